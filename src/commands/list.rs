//! `vzrun list`: the runbooks and what each does.

use crate::exit;
use crate::output::format_table;
use crate::runbook;

pub fn run() -> i32 {
    let rows: Vec<Vec<String>> = runbook::list_all()
        .into_iter()
        .map(|r| {
            let summary = match r.header() {
                Ok(h) => h.summary,
                Err(e) => format!("(broken header: {e})"),
            };
            vec![r.name, summary]
        })
        .collect();
    if rows.is_empty() {
        println!("no runbooks found");
    } else {
        print!(
            "{}",
            format_table(&["RUNBOOK".into(), "WHAT IT DOES".into()], &rows)
        );
    }
    exit::OK
}
