//! `vzrun check [PATHS]`: compile and lint without running anything.
//!
//! It parses each header, builds its command line, and compiles the script with every import
//! resolved and strict variables, so typos in variable names and missing modules are caught
//! before a runbook ever touches a cluster.

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

/// One compile-only engine for every file, its module resolver set to each file's import
/// directory (registering the API is what building an engine costs, and only the resolver
/// depends on the directory), the stdlib modules compiled once for all of them, and the
/// API's signatures read once: building an engine and its metadata per file, and compiling
/// the stdlib again for each, was most of `vzrun check`'s time.
#[derive(Default)]
struct Engines {
    engine: Option<Engine>,
    /// The import directory the engine's resolver searches now (`Some(None)`: the stdlib
    /// alone; `None`: no resolver set yet).
    resolves_in: Option<Option<ImportDir>>,
    signatures: Option<lint::Signatures>,
    /// The engine's own function names, for the name clash check: read once, as the
    /// signatures are.
    natives: Option<engine::NativeNames>,
    stdlib: StdlibCache,
}

impl Engines {
    /// The engine, resolving imports in `dir`, the API's signatures, and the engine's
    /// function names.
    fn for_dir(
        &mut self,
        dir: Option<ImportDir>,
    ) -> (&Engine, &lint::Signatures, &engine::NativeNames) {
        let engine = self.engine.get_or_insert_with(compile_only_engine);
        if self.resolves_in.as_ref() != Some(&dir) {
            engine.set_module_resolver(
                SandboxResolver::new(dir.clone()).with_stdlib_cache(self.stdlib.clone()),
            );
            self.resolves_in = Some(dir);
        }
        let engine = &*engine;
        let signatures = self
            .signatures
            .get_or_insert_with(|| lint::Signatures::of_engine(engine));
        let natives = self
            .natives
            .get_or_insert_with(|| engine::native_names(engine));
        (engine, signatures, natives)
    }
}

/// Compiles with every import resolved, then lints; all problems in one message.
/// `clashes`: also look for functions of one name in the runbook and its modules (see
/// `engine::refuse_name_clashes`), found through this import search path.
fn compile(
    (engine, signatures, natives): (&Engine, &lint::Signatures, &engine::NativeNames),
    scope: &Scope,
    source: &str,
    display: &str,
    declared: Option<&[String]>,
    clashes: Option<&engine::SandboxResolver>,
) -> Result<(), String> {
    // A stdlib module the resolver compiled already (for a runbook that imports it) is not
    // parsed again.
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
    let mut problems = lint::lint(engine, signatures, &ast, declared, display);
    if let Err(e) = engine::refuse_args_assignment(&ast, display) {
        problems.push(e);
    }
    if let Some(finder) = clashes {
        if let Err(e) = engine::refuse_name_clashes_with(engine, natives, finder, display, &ast) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n      "))
    }
}

fn check_runbook(engines: &mut Engines, runbook: &Runbook) -> Result<(), String> {
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
    compile(
        engines.for_dir(Some(runbook.import_dir.clone())),
        &scope,
        &runbook.source,
        &runbook.display_path,
        Some(&declared),
        Some(&finder),
    )
}

pub fn run(paths: &[PathBuf], format: OutputFormat) -> i32 {
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let mut engines = Engines::default();
    if paths.is_empty() {
        for runbook in runbook::list_all() {
            results.push((
                runbook.display_path.clone(),
                check_runbook(&mut engines, &runbook),
            ));
        }
        for file in STDLIB.files() {
            let display = format!("stdlib/{}", file.path().display());
            let result = match file.contents_utf8() {
                Some(source) => compile(
                    engines.for_dir(None),
                    &Scope::new(),
                    source,
                    &display,
                    None,
                    None,
                ),
                None => Err(format!("{display}: not UTF-8")),
            };
            results.push((display, result));
        }
    } else {
        for path in paths {
            let display = path.display().to_string();
            let result = runbook::from_path(path)
                .map_err(|e| e.to_string())
                .and_then(|r| check_runbook(&mut engines, &r));
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
