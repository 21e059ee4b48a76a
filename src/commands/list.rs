//! `vzrun list`: the runbooks and what each does.

use crate::exit;
use crate::run::output::{format_table, OutputFormat};
use crate::runbook;

pub fn run(format: OutputFormat) -> i32 {
    let rows: Vec<Vec<String>> = runbook::list_all()
        .into_iter()
        .map(|r| {
            let summary = match r.header() {
                Ok(h) => h.summary,
                Err(e) => format!("(broken header: {e})"),
            };
            vec![r.name, summary, r.display_path]
        })
        .collect();
    if format == OutputFormat::Json {
        for row in &rows {
            let value = serde_json::json!({"name": row[0], "summary": row[1], "path": row[2]});
            println!("{value}");
        }
        return exit::OK;
    }
    let mut rows: Vec<Vec<String>> = rows.into_iter().map(|r| r[..2].to_vec()).collect();
    for hidden in runbook::shadowed() {
        rows.push(vec![
            format!("user:{}", hidden.name),
            format!(
                "{} is hidden by the built-in {}; run it as user:{}",
                hidden.display_path, hidden.name, hidden.name
            ),
        ]);
    }
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
