//! Imports: only the embedded stdlib, the runbook's own directory and the operators'
//! libraries in `$VZRUN_PATH`.
//!
//! A runbook must not pull code from anywhere on the machine, so absolute paths and `..` are
//! refused; what a runbook can import is what is reviewed next to it or installed as the
//! operators' library.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

type SharedModule = Shared<Module>;

thread_local! {
    /// The imports being evaluated on this thread, outermost first.
    static IMPORTING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

use crate::embedded::{RUNBOOKS, STDLIB};
use crate::failure::Failure;

/// Where a runbook's relative imports are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportDir {
    /// The embedded `runbooks/` directory.
    BuiltIn,
    /// A directory on disk: the runbook file's own directory.
    Disk(PathBuf),
}

pub struct SandboxResolver {
    runbook_dir: Option<ImportDir>,
    cache: Mutex<HashMap<String, SharedModule>>,
    on_load: Option<LoadHook>,
    stdlib: Option<StdlibCache>,
}

/// Stdlib modules, compiled and evaluated, shared by the resolvers of several compile-only
/// engines (`vzrun check` has one per import directory): the embedded stdlib is the same
/// for all of them, so each module is compiled once per process.
pub type StdlibCache = Arc<Mutex<HashMap<String, SharedModule>>>;

type LoadHook = Box<dyn Fn(&str, &str, &str) + Send + Sync>;

impl std::fmt::Debug for SandboxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxResolver")
            .field("runbook_dir", &self.runbook_dir)
            .finish_non_exhaustive()
    }
}

/// The operators' directories, `$VZRUN_PATH` (`:`-separated): their runbooks join the
/// catalog, and their modules can be imported by any runbook (an operator's own library).
pub fn library_dirs() -> Vec<PathBuf> {
    std::env::var_os("VZRUN_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Where an import was found: its display path and source text.
struct Found {
    display: String,
    source: String,
}

impl SandboxResolver {
    pub fn new(runbook_dir: Option<ImportDir>) -> Self {
        SandboxResolver {
            runbook_dir,
            cache: Mutex::new(HashMap::new()),
            on_load: None,
            stdlib: None,
        }
    }

    /// Shares the stdlib modules this resolver loads with other resolvers holding `cache`.
    /// For compile-only engines: a shared module is not loaded again, so `on_load` would not
    /// hear of it.
    pub fn with_stdlib_cache(mut self, cache: StdlibCache) -> Self {
        self.stdlib = Some(cache);
        self
    }

    fn stdlib_cache(&self, path: &str) -> Option<&StdlibCache> {
        let file = format!("{}.rhai", path.strip_suffix(".rhai").unwrap_or(path));
        self.stdlib
            .as_ref()
            .filter(|_| STDLIB.get_file(file).is_some())
    }

    fn find(&self, path: &str) -> Option<Found> {
        let file = format!("{}.rhai", path.strip_suffix(".rhai").unwrap_or(path));
        if let Some(f) = STDLIB.get_file(&file) {
            return Some(Found {
                display: format!("stdlib/{file}"),
                source: f.contents_utf8()?.to_string(),
            });
        }
        let beside = match &self.runbook_dir {
            Some(ImportDir::BuiltIn) => RUNBOOKS.get_file(&file).and_then(|f| {
                Some(Found {
                    display: format!("runbooks/{file}"),
                    source: f.contents_utf8()?.to_string(),
                })
            }),
            Some(ImportDir::Disk(dir)) => {
                let full: PathBuf = dir.join(&file);
                std::fs::read_to_string(&full).ok().map(|source| Found {
                    display: full.display().to_string(),
                    source,
                })
            }
            None => None,
        };
        // Then the operators' libraries, in `$VZRUN_PATH` order: a module beside the runbook
        // wins over one of the same name there.
        beside.or_else(|| {
            library_dirs().into_iter().find_map(|dir| {
                let full = dir.join(&file);
                std::fs::read_to_string(&full).ok().map(|source| Found {
                    display: full.display().to_string(),
                    source,
                })
            })
        })
    }
}

impl SandboxResolver {
    /// The SHA-256 of the module `import` would load now, `None` when it is not found.
    pub fn sha256_of(&self, import: &str) -> Option<String> {
        if !allowed(import) {
            return None;
        }
        self.find(import)
            .map(|found| crate::digest::sha256_hex(found.source.as_bytes()))
    }

    /// Where `import` would be loaded from now and its text: `(display path, source)`.
    pub fn source_of(&self, import: &str) -> Option<(String, String)> {
        if !allowed(import) {
            return None;
        }
        self.find(import).map(|found| (found.display, found.source))
    }

    /// Calls `on_load(import, path, sha256)` for each module loaded (the journal records it).
    pub fn on_load(mut self, on_load: impl Fn(&str, &str, &str) + Send + Sync + 'static) -> Self {
        self.on_load = Some(Box::new(on_load));
        self
    }
}

fn allowed(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != ".."
                && part != "."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        })
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let not_found = || Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos));
        if !allowed(path) {
            let refusal = Failure::bad_input(
                "import",
                format!("{path:?} is refused: only stdlib modules, files beside the runbook and modules in $VZRUN_PATH (no absolute paths, no `..`)"),
            );
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                Dynamic::from(refusal),
                pos,
            )));
        }
        if let Some(module) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
        {
            return Ok(module.clone());
        }
        let shared = self.stdlib_cache(path);
        if let Some(module) = shared.and_then(|c| {
            c.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(path)
                .cloned()
        }) {
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path.to_string(), module.clone());
            return Ok(module);
        }
        let found = self.find(path).ok_or_else(not_found)?;
        // A module that imports itself, directly or through others, would recurse until the
        // stack overflows: refuse the cycle, naming it.
        let cycle = IMPORTING.with(|stack| {
            let stack = stack.borrow();
            stack.iter().position(|p| p == path).map(|start| {
                let mut chain: Vec<&str> = stack[start..].iter().map(String::as_str).collect();
                chain.push(path);
                chain.join(" -> ")
            })
        });
        if let Some(chain) = cycle {
            let refusal = Failure::failed(format!("import cycle: {chain}"));
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                Dynamic::from(refusal),
                pos,
            )));
        }
        if let Some(hook) = &self.on_load {
            let sha = crate::digest::sha256_hex(found.source.as_bytes());
            hook(path, &found.display, &sha);
        }
        let mut ast = engine
            .compile(&found.source)
            .map_err(|e| EvalAltResult::ErrorInModule(found.display.clone(), e.into(), pos))?;
        ast.set_source(found.display.clone());
        super::name_clash::remember(&found.display, &found.source, &ast);
        IMPORTING.with(|stack| stack.borrow_mut().push(path.to_string()));
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine);
        IMPORTING.with(|stack| stack.borrow_mut().pop());
        let module =
            module.map_err(|e| EvalAltResult::ErrorInModule(found.display.clone(), e, pos))?;
        let module: SharedModule = Arc::new(module);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), module.clone());
        if let Some(shared) = shared {
            shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path.to_string(), module.clone());
        }
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_relative_paths_without_parent_steps() {
        assert!(allowed("vz"));
        assert!(allowed("helpers/cs"));
        assert!(!allowed("/etc/passwd"));
        assert!(!allowed("../x"));
        assert!(!allowed("a/../../b"));
        assert!(!allowed("a b"));
    }
}
