//! Embedding vzrun: a program (a control panel, a scheduler) runs a runbook on the built-in
//! lab through the library, with its own event sink, its own script function (a rhai
//! package) and a transport wrapper that counts what reaches each host.
//!
//! `cargo run --example embed` (CI runs it).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::def_package;
use vzrun::{
    Cmd, Confirm, Event, EventSink, HeldLock, LockError, Output, Session, Transport, TransportError,
};

/// The panel's sink: keeps the log lines and the commands, as a panel would show them.
#[derive(Default)]
struct PanelSink {
    lines: Mutex<Vec<String>>,
}

impl EventSink for PanelSink {
    fn event(&self, event: &Event) {
        let line = match event {
            Event::Log { message, .. } => format!("log: {message}"),
            Event::Command { host, argv, .. } => format!("{host}: {}", argv.join(" ")),
            Event::RunFinished { status, .. } => format!("finished: {status}"),
            _ => return,
        };
        self.lines.lock().unwrap().push(line);
    }
}

/// The panel asks its operator; here the operator always agrees.
struct PanelOperator;

impl Confirm for PanelOperator {
    fn who(&self) -> &str {
        "panel"
    }

    fn ask(&self, _question: &str) -> Result<bool, String> {
        Ok(true)
    }
}

def_package! {
    /// The panel's own script function: `ticket(n)` names a ticket of its tracker.
    PanelPackage(module) {
        module.set_native_fn("ticket", |n: i64| Ok(format!("OPS-{n}")));
    }
}

/// Counts the commands that reach a host, then hands them to its own transport.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Transport>,
    commands: Arc<AtomicUsize>,
}

impl Transport for Counting {
    fn run(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        self.commands.fetch_add(1, Ordering::SeqCst);
        self.inner.run(cmd)
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TransportError> {
        self.inner.read_file(path)
    }

    fn mode(&self, path: &str) -> Result<Option<u32>, TransportError> {
        self.inner.mode(path)
    }

    fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        self.inner.write_file_atomic(path, bytes, mode)
    }

    fn lock(
        &self,
        name: &str,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn HeldLock>, LockError> {
        self.inner.lock(name, holder, wait)
    }
}

/// The panel's runbook: which node answers, with a ticket number from the panel.
const RUNBOOK: &str = r#"//! Ask every node its name, for a ticket of the panel.
//! opt ticket = 1 (1..): the ticket number
for h in hosts() {
    let name = h.query(["uname", "-n"]).stdout;
    name.trim();
    log(`${ticket(ARGS.ticket)}: ${h.name} answers as ${name}`);
}
"#;

fn main() {
    // Journals go to a directory of this example, not the operator's.
    let state = std::env::temp_dir().join(format!("vzrun-embed-{}", std::process::id()));
    std::env::set_var("VZRUN_STATE_DIR", &state);

    let sink = Arc::new(PanelSink::default());
    let counts: Arc<Mutex<HashMap<String, Arc<AtomicUsize>>>> = Arc::default();
    let counted = counts.clone();
    let session = Session::new()
        .lab(None)
        .lab_speed(0.0)
        .sink(sink.clone())
        .confirm(Arc::new(PanelOperator))
        .package(PanelPackage::new())
        .wrap_transports(move |host| {
            let commands = Arc::new(AtomicUsize::new(0));
            counted
                .lock()
                .unwrap()
                .insert(host.name().to_string(), commands.clone());
            Arc::new(Counting {
                inner: host.shared_transport(),
                commands,
            })
        });

    let runbook = session.text("panel-names", RUNBOOK);
    let args = BTreeMap::from([("ticket".to_string(), 4711_i64.into())]);
    let outcome = session.apply(&runbook, &args).expect("the arguments bind");
    let _ = std::fs::remove_dir_all(&state);

    for line in sink.lines.lock().unwrap().iter() {
        println!("{line}");
    }
    let counts = counts.lock().unwrap();
    let mut hosts: Vec<_> = counts.iter().collect();
    hosts.sort_by_key(|(name, _)| name.as_str());
    for (host, commands) in hosts {
        println!("{host}: {} command(s)", commands.load(Ordering::SeqCst));
    }
    assert!(outcome.ok(), "the run failed: exit {}", outcome.code);
    let lines = sink.lines.lock().unwrap();
    assert!(lines.iter().any(|l| l.contains("OPS-4711")));
    assert!(counts.values().any(|c| c.load(Ordering::SeqCst) > 0));
}
