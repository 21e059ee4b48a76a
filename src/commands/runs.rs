//! `vzrun runs`: past runs from the journal.

use crate::exit;
use crate::journal;
use crate::output::format_table;

pub fn run() -> i32 {
    let runs = match journal::list_runs() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return exit::FAILED;
        }
    };
    if runs.is_empty() {
        println!("no runs recorded in {}", journal::runs_dir().display());
        return exit::OK;
    }
    let columns = [
        "RUN",
        "STARTED",
        "RUNBOOK",
        "MODE",
        "STATUS",
        "CHANGES",
        "UNDO PENDING",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = runs
        .into_iter()
        .map(|r| {
            vec![
                r.run_id,
                r.started,
                r.runbook,
                if r.plan { "plan" } else { "apply" }.to_string(),
                r.status,
                r.changes.to_string(),
                if r.pending_undos == 0 {
                    String::new()
                } else {
                    r.pending_undos.to_string()
                },
            ]
        })
        .collect();
    print!("{}", format_table(&columns, &rows));
    exit::OK
}
