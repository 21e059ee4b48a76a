//! What `vzrun check` sees in a compiled runbook beyond Rhai's own compiler: calls to
//! primitives or stdlib functions that do not exist or take another number of arguments, and
//! `ARGS.name` fields the header does not declare. Rhai resolves these only when the line
//! runs, which on a cluster may be half-way through a change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rhai::{ASTNode, Engine, Expr, Stmt, AST};

use crate::embedded::STDLIB;

/// Function names and the argument counts they accept, per module (a primitive module such
/// as `prlctl`, or a stdlib module under the alias a runbook imports it as).
#[derive(Debug, Default, Clone)]
pub struct Signatures {
    modules: BTreeMap<String, BTreeMap<String, BTreeSet<usize>>>,
}

impl Signatures {
    /// The primitive modules registered in the engine (`prlctl::`, `vstorage::`, ...), read
    /// from its function metadata directly: rendering the whole API as JSON and reading it
    /// back took a tenth of `vzrun check`.
    pub fn of_engine(engine: &Engine) -> Signatures {
        let mut modules: BTreeMap<String, Functions> = BTreeMap::new();
        let found = engine.collect_fn_metadata(
            None,
            |info| {
                (!info.namespace.is_empty() && info.metadata.access == rhai::FnAccess::Public).then(
                    || {
                        (
                            info.namespace.to_string(),
                            info.metadata.name.to_string(),
                            info.metadata.num_params,
                        )
                    },
                )
            },
            false,
        );
        for (module, name, arity) in found {
            modules
                .entry(module)
                .or_default()
                .entry(name)
                .or_default()
                .insert(arity);
        }
        Signatures { modules }
    }
}

/// The public functions of a module: name -> argument counts.
type Functions = BTreeMap<String, BTreeSet<usize>>;

/// The public functions of the stdlib module `name`, when it exists and loads. They come
/// from the engine's resolver, which compiled the module for the import being linted (and
/// caches it), and are kept per process (the stdlib is embedded): re-parsing the module for
/// every runbook that imports it was most of `vzrun check`'s time.
fn stdlib_functions(engine: &Engine, name: &str) -> Option<Arc<Functions>> {
    static CACHE: Mutex<BTreeMap<String, Option<Arc<Functions>>>> = Mutex::new(BTreeMap::new());
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
            Some(Arc::new(functions))
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
    // Imports first: `import "vz" as vz;` makes `vz::` a known module. They are looked up
    // before the primitives (an alias may hide a primitive module); the primitives' maps
    // are shared, not copied for each runbook.
    let mut imported: BTreeMap<String, Arc<Functions>> = BTreeMap::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(import, _))) = path.last() {
            let (module, alias) = import.as_ref();
            if let (Expr::StringConstant(name, _), alias) = (module, alias.as_str()) {
                if let Some(functions) = stdlib_functions(engine, name) {
                    let alias = if alias.is_empty() { name } else { alias };
                    imported.insert(alias.to_string(), functions);
                }
            }
        }
        true
    });
    let module_functions = |module: &str| -> Option<&Functions> {
        imported
            .get(module)
            .map(|f| &**f)
            .or_else(|| base.modules.get(module))
    };
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
                if let Some(functions) = module_functions(module) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// The metadata read directly names the same modules, functions and argument counts as
    /// the engine's JSON rendering of its API (what `of_engine` read before).
    #[test]
    fn signatures_agree_with_the_engines_json_metadata() {
        let engine = crate::engine::build(
            None,
            None,
            crate::engine::Limits::default(),
            Arc::new(AtomicBool::new(false)),
        );
        let meta: serde_json::Value =
            serde_json::from_str(&engine.gen_fn_metadata_to_json(false).unwrap()).unwrap();
        let mut from_json: BTreeMap<String, Functions> = BTreeMap::new();
        for (name, module) in meta["modules"].as_object().unwrap() {
            let functions = from_json.entry(name.clone()).or_default();
            for f in module["functions"].as_array().into_iter().flatten() {
                let fname = f["name"].as_str().unwrap().to_string();
                let arity = f["params"].as_array().map_or(0, Vec::len);
                functions.entry(fname).or_default().insert(arity);
            }
        }
        let direct = Signatures::of_engine(&engine).modules;
        assert!(direct.contains_key("prlctl") && direct.contains_key("vstorage"));
        assert_eq!(direct, from_json);
    }
}
