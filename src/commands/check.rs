//! `vzrun check [PATHS]`: compile and lint without running anything.
//!
//! It parses each header, builds its command line, and compiles the script with every import
//! resolved and strict variables, so typos in variable names and missing modules are caught
//! before a runbook ever touches a cluster.
//!
//! The files are independent of each other: once the stdlib modules are compiled (once, for
//! all of them), they are checked on a few threads, each with its own engine. Parsing is
//! most of the work, and an operator runs `vzrun check` before every commit (#18: < 20 ms).
//! Not one engine for all threads: rhai's engine guards its string table with a lock that,
//! when another thread holds it, sleeps 10 ms before trying again.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rhai::{Engine, Scope};

use super::lint;
use crate::embedded::STDLIB;
use crate::engine::{self, Limits, SandboxResolver, StdlibCache};
use crate::exit;
use crate::run::output::OutputFormat;
use crate::runbook::{self, ImportDir, Runbook};

/// Threads at most: each builds an engine (a millisecond), and the files are few.
const MAX_THREADS: usize = 4;

fn compile_only_engine() -> Engine {
    let mut engine = engine::build(
        None,
        None,
        Limits::default(),
        Arc::new(AtomicBool::new(false)),
    );
    // Room for every identifier of the runbooks and the stdlib: past rhai's default of 256
    // interned strings, each new one scanned the whole cache to evict one (15% of the time).
    engine.set_max_strings_interned(8192);
    engine
}

/// One compile-only engine for all files (and one more for each further thread), its module
/// resolver set to the import directory of the files being checked (registering the API is
/// what building an engine costs, and only the resolver depends on the directory), the
/// stdlib modules compiled once for all of them, and the API's signatures and function names
/// read once: building an engine and its metadata per file, and compiling the stdlib again
/// for each, was most of `vzrun check`'s time.
struct Checker {
    engine: Engine,
    signatures: lint::Signatures,
    /// The engine's own function names, for the name clash check.
    natives: engine::NativeNames,
    stdlib: StdlibCache,
}

impl Checker {
    fn new() -> Checker {
        let engine = compile_only_engine();
        Checker {
            signatures: lint::Signatures::of_engine(&engine),
            natives: engine::native_names(&engine),
            engine,
            stdlib: StdlibCache::default(),
        }
    }

    /// Resolves imports in `dir` from now on (the stdlib alone: `None`).
    fn resolve_in(&mut self, dir: Option<ImportDir>) {
        let resolver = self.resolver(dir);
        self.engine.set_module_resolver(resolver);
    }

    fn resolver(&self, dir: Option<ImportDir>) -> SandboxResolver {
        SandboxResolver::new(dir).with_stdlib_cache(self.stdlib.clone())
    }

    /// Another engine like this one's, resolving imports in `dir`, for another thread.
    fn engine_for(&self, dir: Option<ImportDir>) -> Engine {
        let mut engine = compile_only_engine();
        engine.set_module_resolver(self.resolver(dir));
        engine
    }

    /// Compiles every stdlib module into the shared cache, so that the threads checking
    /// runbooks find them compiled instead of each compiling them at once.
    fn compile_stdlib(&self) {
        for file in STDLIB.files() {
            let Some(name) = file.path().to_str().and_then(|p| p.strip_suffix(".rhai")) else {
                continue;
            };
            // A module that does not compile is reported where it is checked (below) and
            // where it is imported.
            let _ = self.engine.module_resolver().resolve(
                &self.engine,
                None,
                name,
                rhai::Position::NONE,
            );
        }
    }

    /// Compiles with every import resolved, then lints; all problems in one message.
    /// `clashes`: also look for functions of one name in the runbook and its modules (see
    /// `engine::refuse_name_clashes`), found through this import search path.
    fn compile(
        &self,
        engine: &Engine,
        scope: &Scope,
        source: &str,
        display: &str,
        declared: Option<&[String]>,
        clashes: Option<&engine::SandboxResolver>,
    ) -> Result<(), String> {
        // A stdlib module the resolver compiled already is not parsed again.
        let cached = display
            .starts_with("stdlib/")
            .then(|| engine::compiled_module(display, source))
            .flatten();
        let ast = match cached {
            Some(ast) => ast,
            None => engine
                .compile_into_self_contained(scope, source)
                .map_err(|e| engine::describe(&e, display).0)?,
        };
        let mut problems = lint::lint(engine, &self.signatures, &ast, declared, display);
        if let Err(e) = engine::refuse_args_assignment(&ast, display) {
            problems.push(e);
        }
        if let Some(finder) = clashes {
            if let Err(e) =
                engine::refuse_name_clashes_with(engine, &self.natives, finder, display, &ast)
            {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n      "))
        }
    }

    /// Checks a runbook with `engine` (whose resolver searches the runbook's directory).
    fn runbook(&self, engine: &Engine, runbook: &Runbook) -> Result<(), String> {
        let header = runbook.header()?;
        crate::commands::args::command_for(runbook, &header)?;
        let args: rhai::Map = header
            .params
            .iter()
            .map(|p| (p.key().into(), rhai::Dynamic::UNIT))
            .collect();
        let declared: Vec<String> = header.params.iter().map(|p| p.key()).collect();
        let scope = engine::runbook_scope(args, "", false);
        let finder = engine::SandboxResolver::new(Some(runbook.import_dir.clone()));
        self.compile(
            engine,
            &scope,
            &runbook.source,
            &runbook.display_path,
            Some(&declared),
            Some(&finder),
        )
    }

    /// Checks `runbooks`, those of one import directory after another, each directory's on
    /// threads; results in the order given.
    fn runbooks(&mut self, runbooks: &[&Runbook]) -> Vec<Result<(), String>> {
        let mut results: Vec<Option<Result<(), String>>> = vec![None; runbooks.len()];
        let mut dirs: Vec<&ImportDir> = Vec::new();
        for runbook in runbooks {
            if !dirs.contains(&&runbook.import_dir) {
                dirs.push(&runbook.import_dir);
            }
        }
        for dir in dirs {
            self.resolve_in(Some(dir.clone()));
            let of_dir: Vec<usize> = (0..runbooks.len())
                .filter(|&i| runbooks[i].import_dir == *dir)
                .collect();
            let this = &*self;
            // The first thread uses this engine, the others build their own.
            let checked = on_threads(
                &of_dir,
                threads(),
                |thread| (thread > 0).then(|| this.engine_for(Some(dir.clone()))),
                |own: &Option<Engine>, &i| {
                    this.runbook(own.as_ref().unwrap_or(&this.engine), runbooks[i])
                },
            );
            for (i, result) in of_dir.into_iter().zip(checked) {
                results[i] = Some(result);
            }
        }
        results.into_iter().flatten().collect()
    }
}

/// How many threads check files: this machine's processors, at most [`MAX_THREADS`].
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
}

/// `check(state, item)` for each of `items`, on up to `threads` threads, each with its own
/// `state` (`init(thread number)`, the first 0); results in the order of `items`.
fn on_threads<T: Sync, S, R: Send>(
    items: &[T],
    threads: usize,
    init: impl Fn(usize) -> S + Sync,
    check: impl Fn(&S, &T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        let state = init(0);
        return items.iter().map(|item| check(&state, item)).collect();
    }
    let (init, check) = (&init, &check);
    // Every `threads`-th item to each thread: long and short files spread alike.
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|first| {
                scope.spawn(move || {
                    let state = init(first);
                    (first..items.len())
                        .step_by(threads)
                        .map(|i| (i, check(&state, &items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut indexed: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

pub fn run(paths: &[PathBuf], format: OutputFormat) -> i32 {
    let mut checker = Checker::new();
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    if paths.is_empty() {
        // Every stdlib module is checked below: compiled now, the threads find them ready.
        checker.resolve_in(None);
        checker.compile_stdlib();
        let all = runbook::list_all();
        let runbooks: Vec<&Runbook> = all.iter().collect();
        let checked = checker.runbooks(&runbooks);
        for (runbook, result) in all.iter().zip(checked) {
            results.push((runbook.display_path.clone(), result));
        }
        checker.resolve_in(None);
        for file in STDLIB.files() {
            let display = format!("stdlib/{}", file.path().display());
            let result = match file.contents_utf8() {
                Some(source) => {
                    checker.compile(&checker.engine, &Scope::new(), source, &display, None, None)
                }
                None => Err(format!("{display}: not UTF-8")),
            };
            results.push((display, result));
        }
    } else {
        let loaded: Vec<(String, Result<Runbook, String>)> = paths
            .iter()
            .map(|path| {
                let display = path.display().to_string();
                (display, runbook::from_path(path).map_err(|e| e.to_string()))
            })
            .collect();
        let runbooks: Vec<&Runbook> = loaded.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
        let mut checked = checker.runbooks(&runbooks).into_iter();
        for (display, loaded) in loaded {
            let result = match loaded {
                Ok(_) => checked.next().expect("one result per runbook loaded"),
                Err(e) => Err(e),
            };
            results.push((display, result));
        }
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if format == OutputFormat::Json {
        for (display, result) in &results {
            let problems: Vec<&str> = match result {
                Ok(()) => Vec::new(),
                Err(e) => e.split("\n      ").collect(),
            };
            let value =
                serde_json::json!({"file": display, "ok": result.is_ok(), "problems": problems});
            println!("{value}");
        }
        return if failed == 0 { exit::OK } else { exit::FAILED };
    }
    for (display, result) in &results {
        match result {
            Ok(()) => println!("ok    {display}"),
            Err(e) => println!("FAIL  {e}"),
        }
    }
    println!(
        "checked {} file(s): {} ok, {failed} failed",
        results.len(),
        results.len() - failed
    );
    if failed == 0 {
        exit::OK
    } else {
        exit::FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_threads_keeps_the_order_and_gives_each_thread_its_own_state() {
        let items: Vec<usize> = (0..11).collect();
        for threads in [1, 2, 3, 4, 20] {
            let inits = std::sync::atomic::AtomicUsize::new(0);
            let results = on_threads(
                &items,
                threads,
                |thread| {
                    inits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    thread
                },
                |&thread, &item| (item * 10, thread),
            );
            let values: Vec<usize> = results.iter().map(|(v, _)| *v).collect();
            assert_eq!(values, (0..11).map(|i| i * 10).collect::<Vec<_>>());
            let used = threads.min(items.len());
            assert_eq!(inits.into_inner(), used, "{threads} thread(s)");
            // Every `used`-th item on one thread: item i on thread i % used.
            assert!(results.iter().enumerate().all(|(i, (_, t))| *t == i % used));
        }
    }
}
