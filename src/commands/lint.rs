//! What `vzrun check` sees in a compiled runbook beyond Rhai's own compiler: calls to
//! primitives or stdlib functions that do not exist or take another number of arguments, and
//! `ARGS.name` fields the header does not declare. Rhai resolves these only when the line
//! runs, which on a cluster may be half-way through a change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rhai::{ASTNode, Engine, Expr, Stmt, AST};

use crate::embedded::STDLIB;

/// Function names and the argument counts they accept, per module (a primitive module such
/// as `prlctl`, or a stdlib module under the alias a runbook imports it as).
#[derive(Debug, Default, Clone)]
pub struct Signatures {
    modules: BTreeMap<String, BTreeMap<String, BTreeSet<usize>>>,
}

impl Signatures {
    /// The primitive modules registered in the engine (from its metadata).
    pub fn of_engine(engine: &Engine) -> Signatures {
        let meta: serde_json::Value = engine
            .gen_fn_metadata_to_json(false)
            .ok()
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        let mut modules = BTreeMap::new();
        if let Some(map) = meta["modules"].as_object() {
            for (name, module) in map {
                let mut functions: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
                for f in module["functions"].as_array().into_iter().flatten() {
                    let fname = f["name"].as_str().unwrap_or_default().to_string();
                    let arity = f["params"].as_array().map_or(0, Vec::len);
                    functions.entry(fname).or_default().insert(arity);
                }
                modules.insert(name.clone(), functions);
            }
        }
        Signatures { modules }
    }

    /// Adds the public functions of a script module under `alias`.
    fn add_script_module(&mut self, alias: &str, functions: Functions) {
        self.modules.insert(alias.to_string(), functions);
    }
}

/// The public functions of a module: name -> argument counts.
type Functions = BTreeMap<String, BTreeSet<usize>>;

/// The public functions of the stdlib module `name`, when it exists and loads. They come
/// from the engine's resolver, which compiled the module for the import being linted (and
/// caches it), and are kept per process (the stdlib is embedded): re-parsing the module for
/// every runbook that imports it was most of `vzrun check`'s time.
fn stdlib_functions(engine: &Engine, name: &str) -> Option<Functions> {
    static CACHE: Mutex<BTreeMap<String, Option<Functions>>> = Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .entry(name.to_string())
        .or_insert_with(|| {
            STDLIB.get_file(format!("{name}.rhai"))?;
            let module = engine
                .module_resolver()
                .resolve(engine, None, name, rhai::Position::NONE)
                .ok()?;
            let mut functions: Functions = BTreeMap::new();
            for (_, access, fname, params, _) in module.iter_script_fn_info() {
                if access != rhai::FnAccess::Private {
                    functions
                        .entry(fname.to_string())
                        .or_default()
                        .insert(params);
                }
            }
            Some(functions)
        })
        .clone()
}

/// Problems found in `ast`, each as `DISPLAY:LINE:COL: message`. `declared` lists the ARGS
/// keys of the header (None: not a runbook, do not check ARGS).
pub fn lint(
    engine: &Engine,
    base: &Signatures,
    ast: &AST,
    declared: Option<&[String]>,
    display: &str,
) -> Vec<String> {
    let mut signatures = base.clone();
    // Imports first: `import "vz" as vz;` makes `vz::` a known module.
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(import, _))) = path.last() {
            let (module, alias) = import.as_ref();
            if let (Expr::StringConstant(name, _), alias) = (module, alias.as_str()) {
                if let Some(functions) = stdlib_functions(engine, name) {
                    signatures
                        .add_script_module(if alias.is_empty() { name } else { alias }, functions);
                }
            }
        }
        true
    });
    let mut problems = Vec::new();
    let at = |pos: rhai::Position| {
        format!(
            "{display}:{}:{}",
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0)
        )
    };
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) if !call.namespace.is_empty() => {
                let module = call.namespace.root();
                let name = call.name.as_str();
                let given = call.args.len();
                if let Some(functions) = signatures.modules.get(module) {
                    match functions.get(name) {
                        None => problems.push(format!(
                            "{}: unknown function {module}::{name} ({module}:: has {})",
                            at(*pos),
                            functions.keys().cloned().collect::<Vec<_>>().join(", ")
                        )),
                        Some(arities) if !arities.contains(&given) => problems.push(format!(
                            "{}: {module}::{name} takes {} argument(s), not {given}",
                            at(*pos),
                            arities
                                .iter()
                                .map(usize::to_string)
                                .collect::<Vec<_>>()
                                .join(" or ")
                        )),
                        Some(_) => {}
                    }
                }
            }
            Some(ASTNode::Expr(Expr::Dot(dot, _, pos))) => {
                if let (Some(declared), Expr::Variable(var, _, _)) = (declared, &dot.lhs) {
                    let field = match &dot.rhs {
                        Expr::Property(p, _) => Some(p.2.as_str()),
                        Expr::Dot(inner, _, _) => match &inner.lhs {
                            Expr::Property(p, _) => Some(p.2.as_str()),
                            _ => None,
                        },
                        _ => None,
                    };
                    if var.1.as_str() == "ARGS" {
                        if let Some(field) = field.filter(|f| !declared.iter().any(|d| d == f)) {
                            problems.push(format!(
                                "{}: ARGS.{field} is not declared in the header (declared: {})",
                                at(*pos),
                                declared.join(", ")
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    problems
}
