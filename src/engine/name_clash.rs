//! Functions of one name in two places: refused before a runbook runs.
//!
//! Rhai (1.27) remembers which function an unqualified call `f(x)` resolved to in a cache
//! that the runbook and every module's functions share within one evaluation. Once a
//! function of module A has called its own `f`, a function of module B that calls `f` gets
//! A's `f`, run in B's environment: the wrong code, or a closure of A's that B cannot find
//! ("Function not found: anon$..."). The stdlib had such a pair, `storage::join` (a closure
//! inside) and `vz::join`; two modules built like them failed half-way through a run
//! (tests/integration/engine.rs). Two places that define a
//! function of the same name and arity are harmless only while at most one of them calls it
//! unqualified and nobody else calls it unqualified: that is what is checked here, over the
//! runbook and every module it imports (the stdlib included), before anything runs.
//!
//! So is a call of a function that exists nowhere (see `defined_nowhere`), or with a prefix
//! whose module or primitives' namespace has no such function (`qualified_nowhere`): rhai
//! finds out only when the call is made, and a `catch` around it takes that for a failure
//! of the thing being tried.

use std::collections::{BTreeMap, BTreeSet};

use rhai::{ASTNode, Engine, Expr, Stmt, AST};

use super::resolver::SandboxResolver;

/// A function by name and number of arguments.
type Signature = (String, usize);

/// What one source (a runbook or a module) defines and calls without a `module::` prefix.
struct Source {
    display: String,
    defines: BTreeSet<Signature>,
    calls: BTreeSet<Signature>,
    /// Calls with a one-level prefix: (prefix, name, number of arguments).
    qualified: BTreeSet<(String, String, usize)>,
    /// The modules it imports by a literal path: alias → path.
    aliases: BTreeMap<String, String>,
}

impl Source {
    fn of(display: &str, ast: &AST) -> Source {
        let defines = ast
            .iter_functions()
            .map(|f| (f.name.to_string(), f.params.len()))
            .collect();
        let mut calls = BTreeSet::new();
        let mut qualified = BTreeSet::new();
        let mut aliases = BTreeMap::new();
        ast.walk(&mut |path: &[ASTNode]| {
            let call = match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(call, _))) => Some(call),
                Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => Some(call),
                Some(ASTNode::Stmt(Stmt::Import(import, _))) => {
                    if let Expr::StringConstant(name, _) = &import.0 {
                        aliases.insert(import.1.as_str().to_string(), name.to_string());
                    }
                    None
                }
                _ => None,
            };
            if let Some(call) = call {
                let signature = (call.name.to_string(), call.args.len());
                match call.namespace.path.as_slice() {
                    [] => {
                        calls.insert(signature);
                    }
                    [root] => {
                        qualified.insert((root.as_str().to_string(), signature.0, signature.1));
                    }
                    _ => {}
                }
            }
            true
        });
        Source {
            display: display.to_string(),
            defines,
            calls,
            qualified,
            aliases,
        }
    }
}

/// The clashes among `sources`: a function that a source defines and that two sources call
/// unqualified (the first to call it fills the cache for the other), or that one source
/// calls without defining it while another defines it (what it gets depends on what else
/// was called before). One line each.
///
/// One source defining and calling its own `f` is safe even when others define an `f` too:
/// the caller's own environment is searched first, and only it fills the cache for `f`.
fn clashes(sources: &[&Source]) -> Vec<String> {
    let mut callers: BTreeMap<&Signature, Vec<&Source>> = BTreeMap::new();
    for source in sources {
        for call in &source.calls {
            callers.entry(call).or_default().push(*source);
        }
    }
    let mut problems = Vec::new();
    for (signature, calling) in callers {
        let defining: Vec<&Source> = sources
            .iter()
            .copied()
            .filter(|s| s.defines.contains(signature))
            .collect();
        let calls_its_own = calling.len() == 1 && calling[0].defines.contains(signature);
        if defining.is_empty() || calls_its_own {
            continue;
        }
        let (name, arity) = signature;
        let names = |list: &[&Source]| {
            let mut names: Vec<&str> = list.iter().map(|s| s.display.as_str()).collect();
            names.sort_unstable();
            names.join(", ")
        };
        problems.push(format!(
            "function {name} ({arity} argument(s)) is defined in {} and called without a module prefix in {}: rhai may run one in place of the other; rename one of them, or call it as module::{name}",
            names(&defining),
            names(&calling)
        ));
    }
    problems
}

/// The clashes of a runbook (`ast`, shown as `display`) with the modules it imports, found
/// through `resolver`'s search path. Modules that do not parse are left to the run, which
/// reports them where they are imported.
pub fn check(
    engine: &Engine,
    resolver: &SandboxResolver,
    display: &str,
    ast: &AST,
) -> Result<(), String> {
    check_with(engine, &native_names(engine), resolver, display, ast)
}

/// The names of the engine's own functions, as [`check_with`] needs them: read once for
/// many runbooks (`vzrun check`), as reading them (every signature of the API and of rhai's
/// packages) took longer than the rest of the check of one runbook.
pub struct NativeNames(Native);

/// [`NativeNames`] of `engine`.
pub fn native_names(engine: &Engine) -> NativeNames {
    NativeNames(native_functions(engine))
}

/// [`check`], with the engine's function names read before (engines built alike have the
/// same).
pub fn check_with(
    engine: &Engine,
    natives: &NativeNames,
    resolver: &SandboxResolver,
    display: &str,
    ast: &AST,
) -> Result<(), String> {
    let own = Source::of(display, ast);
    // The modules are shared with the cache, not copied: their call lists are long, and
    // `vzrun check` meets the stdlib modules once per runbook.
    let mut modules = Vec::new();
    let mut by_path = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut pending = imports(ast);
    while let Some(import) = pending.pop() {
        if !seen.insert(import.clone()) {
            continue;
        }
        let Some((module_display, text)) = resolver.source_of(&import) else {
            continue;
        };
        let Some(module) = parsed(engine, module_display, text) else {
            continue;
        };
        pending.extend(module.imports.iter().cloned());
        by_path.insert(import, modules.len() + 1);
        modules.push(module);
    }
    let sources: Vec<&Source> = std::iter::once(&own)
        .chain(modules.iter().map(|m| &m.source))
        .collect();
    let sources = sources.as_slice();
    let native = &natives.0;
    let mut problems = clashes(sources);
    problems.extend(defined_nowhere(sources, native));
    problems.extend(qualified_nowhere(sources, &by_path, native));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{display}: {}", problems.join("; ")))
    }
}

/// Names rhai handles itself: calls of them are not looked up among functions.
const KEYWORDS: [&str; 11] = [
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "type_of",
    "print",
    "debug",
    "eval",
    "this",
];

/// The names of every function the engine has (its API, the primitives, rhai's packages),
/// by name alone (a native function may have overloads of several arities): the bare names,
/// and for each namespace (`prlctl`) the names in it. A function of a namespace counts
/// under its bare name too, as it may be callable unqualified (`#[rhai_fn(global)]`): this
/// errs on the side of not refusing.
fn native_functions(engine: &Engine) -> Native {
    let mut native = Native::default();
    let found = engine.collect_fn_metadata(
        None,
        |info| {
            (info.metadata.access == rhai::FnAccess::Public)
                .then(|| (info.namespace.to_string(), info.metadata.name.to_string()))
        },
        true,
    );
    for (namespace, name) in found {
        if !namespace.is_empty() {
            native
                .namespaces
                .entry(namespace)
                .or_default()
                .insert(name.clone());
        }
        native.names.insert(name);
    }
    native
}

/// What [`native_functions`] finds.
#[derive(Default)]
struct Native {
    names: BTreeSet<String>,
    namespaces: BTreeMap<String, BTreeSet<String>>,
}

/// Calls with a prefix of a function that the module (imported by a literal path and
/// found) or the primitives' namespace does not have. Prefixes that are neither (a module
/// imported by a computed path) are left to the run.
fn qualified_nowhere(
    sources: &[&Source],
    by_path: &BTreeMap<String, usize>,
    native: &Native,
) -> Vec<String> {
    let mut missing: BTreeMap<(&str, &str, usize), Vec<&str>> = BTreeMap::new();
    for source in sources {
        for (root, name, arity) in &source.qualified {
            let known = match source.aliases.get(root) {
                Some(path) => match by_path.get(path) {
                    Some(&i) => sources[i].defines.contains(&(name.clone(), *arity)),
                    None => true,
                },
                None => match native.namespaces.get(root) {
                    Some(names) => names.contains(name),
                    None => true,
                },
            };
            if !known {
                missing
                    .entry((root, name, *arity))
                    .or_default()
                    .push(&source.display);
            }
        }
    }
    missing
        .into_iter()
        .map(|((root, name, arity), callers)| {
            format!(
                "function {root}::{name} ({arity} argument(s)) is called in {} but {root} has no such function: rhai would fail only when the call is made, and a catch around it would take that for an ordinary failure",
                callers.join(", ")
            )
        })
        .collect()
}

/// Unqualified calls of a function that exists nowhere: not in the runbook, not in a module
/// it loads (a module's function can call the runbook's), not an API, primitive or rhai
/// function. rhai finds out only when the call is made, as an error that a `catch` takes
/// like any other: `try { answers(h, 15); up = true; } catch { }` with a misspelt or
/// missing function answered "does not answer" for every node, and the run went on.
fn defined_nowhere(sources: &[&Source], native: &Native) -> Vec<String> {
    let defined: BTreeSet<&Signature> = sources.iter().flat_map(|s| &s.defines).collect();
    let mut missing: BTreeMap<&Signature, Vec<&str>> = BTreeMap::new();
    for source in sources {
        for call in &source.calls {
            let (name, _) = call;
            let identifier = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_');
            if !identifier
                || KEYWORDS.contains(&name.as_str())
                || native.names.contains(name)
                || defined.contains(call)
            {
                continue;
            }
            missing.entry(call).or_default().push(&source.display);
        }
    }
    missing
        .into_iter()
        .map(|((name, arity), callers)| {
            format!(
                "function {name} ({arity} argument(s)) is called in {} but defined nowhere (not in the runbook, the modules it imports, nor vzrun's functions): rhai would fail only when the call is made, and a catch around it would take that for an ordinary failure",
                callers.join(", ")
            )
        })
        .collect()
}

/// A module as this check needs it: its functions, its calls and its imports.
struct Parsed {
    source: Source,
    imports: Vec<String>,
    ast: AST,
}

/// The module `text` parsed, kept per process by its path and text: `vzrun check` meets the
/// stdlib modules once per runbook, and parsing vz.rhai each time was most of its cost.
fn parsed(engine: &Engine, display: String, text: String) -> Option<std::sync::Arc<Parsed>> {
    let mut cache = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .entry((display, text))
        .or_insert_with_key(|(display, text)| {
            let ast = engine.compile(text).ok()?;
            Some(parse_of(display, &ast))
        })
        .clone()
}

/// Notes a module the resolver has just compiled (`ast` of `text`, shown as `display`), so
/// that this check does not parse it a second time.
pub(super) fn remember(display: &str, text: &str, ast: &AST) {
    PARSED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((display.to_string(), text.to_string()))
        .or_insert_with(|| Some(parse_of(display, ast)));
}

fn parse_of(display: &str, ast: &AST) -> std::sync::Arc<Parsed> {
    std::sync::Arc::new(Parsed {
        source: Source::of(display, ast),
        imports: imports(ast),
        ast: ast.clone(),
    })
}

/// The AST of a module already compiled in this process (by the resolver, or this check)
/// from `text`, shown as `display`: `vzrun check` lints the stdlib modules themselves
/// without parsing them a third time.
pub fn compiled_module(display: &str, text: &str) -> Option<AST> {
    PARSED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(display.to_string(), text.to_string()))
        .and_then(|parsed| parsed.as_ref().map(|p| p.ast.clone()))
}

type ParsedCache = BTreeMap<(String, String), Option<std::sync::Arc<Parsed>>>;
/// Modules by their path and text, kept per process.
static PARSED: std::sync::Mutex<ParsedCache> = std::sync::Mutex::new(BTreeMap::new());

/// The paths a script imports (string literals only; others are resolved when they run).
fn imports(ast: &AST) -> Vec<String> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(import, _))) = path.last() {
            if let Expr::StringConstant(name, _) = &import.as_ref().0 {
                found.push(name.to_string());
            }
        }
        true
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(display: &str, text: &str) -> Source {
        Source::of(display, &Engine::new().compile(text).unwrap())
    }

    /// What `native_functions` read before: the engine's signatures as text.
    fn native_functions_from_signatures(engine: &Engine) -> Native {
        let mut native = Native::default();
        for signature in engine.gen_fn_signatures(true) {
            let Some(head) = signature.split('(').next() else {
                continue;
            };
            let head = head.trim();
            let head = head.strip_prefix("fn ").unwrap_or(head);
            match head.rsplit_once("::") {
                Some((namespace, name)) => {
                    native.names.insert(name.to_string());
                    native
                        .namespaces
                        .entry(namespace.to_string())
                        .or_default()
                        .insert(name.to_string());
                }
                None => {
                    native.names.insert(head.to_string());
                }
            }
        }
        native
    }

    #[test]
    fn native_names_agree_with_the_engines_signatures() {
        let engine = crate::engine::build(
            None,
            None,
            crate::engine::Limits::default(),
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
        let direct = native_functions(&engine);
        let from_text = native_functions_from_signatures(&engine);
        assert!(direct.names.contains("log") && direct.namespaces.contains_key("prlctl"));
        assert_eq!(direct.names, from_text.names);
        assert_eq!(direct.namespaces, from_text.namespaces);
    }

    #[test]
    fn the_stdlib_modules_together_have_no_clash() {
        let mut engine = Engine::new();
        engine.set_max_expr_depths(128, 64);
        let sources: Vec<Source> = crate::embedded::STDLIB
            .files()
            .map(|f| {
                let text = f.contents_utf8().unwrap();
                Source::of(
                    &f.path().display().to_string(),
                    &engine.compile(text).unwrap(),
                )
            })
            .collect();
        assert!(sources.len() >= 4);
        assert_eq!(
            clashes(&sources.iter().collect::<Vec<_>>()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_call_defined_nowhere_is_named_and_known_calls_are_not() {
        let native = Native {
            names: ["log".to_string()].into(),
            namespaces: BTreeMap::new(),
        };
        let runbook = source(
            "r.rhai",
            "fn mine(x) { x } mine(1); log(\"a\"); print(1); let f = Fn(\"mine\"); nosuch(1, 2); mine(1, 2); 1 + 2;",
        );
        let found = defined_nowhere(&[&runbook], &native);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with(
                "function mine (2 argument(s)) is called in r.rhai but defined nowhere"
            ),
            "{}",
            found[0]
        );
        assert!(
            found[1].starts_with("function nosuch (2 argument(s))"),
            "{}",
            found[1]
        );
    }

    #[test]
    fn a_name_two_modules_define_and_call_is_a_clash() {
        let a = source("a.rhai", "fn f(x) { 1 } fn g() { f(1) }");
        let b = source("b.rhai", "fn f(x) { 2 } fn h() { f(2) }");
        let found = clashes(&[&a, &b]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("function f (1 argument(s)) is defined in a.rhai, b.rhai and called without a module prefix in a.rhai, b.rhai"), "{}", found[0]);
    }

    #[test]
    fn defined_twice_and_called_by_its_own_module_only_is_no_clash() {
        // `vz::join` and `storage::join` once storage calls `vz::join` with its prefix.
        let vz = source("vz.rhai", "fn join(a, b) { 1 } fn x() { join(1, 2) }");
        let storage = source(
            "storage.rhai",
            "fn join(a, b) { 2 } fn y() { vz::join(1, 2) }",
        );
        let runbook = source("r.rhai", "storage::y(); vz::x();");
        assert!(clashes(&[&runbook, &vz, &storage]).is_empty());
    }

    #[test]
    fn a_runbook_calling_a_name_a_module_calls_for_its_own_is_a_clash() {
        // Unqualified in the runbook: its own function, or (after the module's call filled
        // the cache) the module's.
        let vz = source("vz.rhai", "fn join(a, b) { 1 } fn x() { join(1, 2) }");
        let runbook = source("r.rhai", "fn join(a, b) { 3 } vz::x(); join(1, 2);");
        assert_eq!(clashes(&[&runbook, &vz]).len(), 1);
        let calls_only = source("r.rhai", "vz::x(); join(1, 2);");
        let vz = source("vz.rhai", "fn join(a, b) { 1 } fn x() { join(1, 2) }");
        assert_eq!(clashes(&[&calls_only, &vz]).len(), 1);
    }
}
