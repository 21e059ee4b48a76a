//! `vzrun check [PATHS]`: compile and lint without running anything.
//!
//! It parses each header, builds its command line, and compiles the script with every import
//! resolved and strict variables, so typos in variable names and missing modules are caught
//! before a runbook ever touches a cluster.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rhai::{Engine, Scope};

use crate::embedded::STDLIB;
use crate::engine::{self, Limits};
use crate::exit;
use crate::runbook::{self, ImportDir, Runbook};

fn compile_only_engine(dir: Option<ImportDir>) -> Engine {
    engine::build(
        None,
        dir,
        Limits::default(),
        Arc::new(AtomicBool::new(false)),
    )
}

fn compile(engine: &Engine, scope: &Scope, source: &str, display: &str) -> Result<(), String> {
    let ast = engine
        .compile_into_self_contained(scope, source)
        .map_err(|e| engine::describe(&e, display).0)?;
    engine::refuse_args_assignment(&ast, display)
}

fn check_runbook(runbook: &Runbook) -> Result<(), String> {
    let header = runbook.header()?;
    runbook::command_for(runbook, &header)?;
    let args: rhai::Map = header
        .params
        .iter()
        .map(|p| (p.key().into(), rhai::Dynamic::UNIT))
        .collect();
    let scope = engine::runbook_scope(args, "", false);
    let engine = compile_only_engine(Some(runbook.import_dir.clone()));
    compile(&engine, &scope, &runbook.source, &runbook.display_path)
}

pub fn run(paths: &[PathBuf]) -> i32 {
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    if paths.is_empty() {
        for runbook in runbook::list_all() {
            results.push((runbook.display_path.clone(), check_runbook(&runbook)));
        }
        let engine = compile_only_engine(None);
        for file in STDLIB.files() {
            let display = format!("stdlib/{}", file.path().display());
            let result = match file.contents_utf8() {
                Some(source) => compile(&engine, &Scope::new(), source, &display),
                None => Err(format!("{display}: not UTF-8")),
            };
            results.push((display, result));
        }
    } else {
        for path in paths {
            let display = path.display().to_string();
            let result = runbook::from_path(path)
                .map_err(|e| e.to_string())
                .and_then(|r| check_runbook(&r));
            results.push((display, result));
        }
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
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
