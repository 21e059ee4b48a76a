//! The library's entry point: a [`Session`] loads a runbook (from the catalog, a path or a
//! text), binds its arguments from a map, chooses the target (the lab, an inventory, or
//! hosts with the embedder's own transports), and plans or applies it, with the events going
//! to an [`EventSink`] and confirmations to a [`Confirm`] callback. The command line is one
//! user of the same run ([`execute`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rhai::packages::Package;

use super::execute::{execute, Embedding, Job};
use super::targets::{cluster_for, describe_target};
use super::RunError;
use crate::cluster::host::Host;
use crate::cluster::Cluster;
use crate::engine::Extension;
use crate::exit;
use crate::run::options::RunOptions;
use crate::run::sink::{Confirm, EventSink};
use crate::runbook::{self, ArgValue, Runbook};
use crate::transport::Transport;

/// Replaces a host's transport (to log, filter or count what reaches it).
pub type TransportWrapper = Arc<dyn Fn(&Host) -> Arc<dyn Transport> + Send + Sync>;

/// How a run ended: its exit code (see [`crate::exit`]) and the error, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `0` when every step succeeded; the codes of `vzrun --help` otherwise.
    pub code: i32,
}

impl Outcome {
    /// Whether the run finished and every step succeeded.
    pub fn ok(&self) -> bool {
        self.code == exit::OK
    }
}

/// Runs runbooks as a library: build one, configure it, then [`Session::plan`] or
/// [`Session::apply`]. See the crate documentation for an example.
#[derive(Clone, Default)]
pub struct Session {
    options: RunOptions,
    sink: Option<Arc<dyn EventSink>>,
    confirm: Option<Arc<dyn Confirm>>,
    hosts: Option<(String, Vec<Host>)>,
    wrapper: Option<TransportWrapper>,
    without_builtin_primitives: bool,
    extensions: Vec<Extension>,
    interrupted: Arc<AtomicBool>,
}

impl Session {
    /// A session on this machine only (no inventory is read unless [`Session::inventory`]
    /// names one), events discarded, confirmations refused.
    pub fn new() -> Self {
        Session::default()
    }

    /// Runs against the built-in lab, or the lab scenario in `scenario` (YAML).
    pub fn lab(mut self, scenario: Option<&Path>) -> Self {
        self.options.lab = Some(scenario.map(Path::to_path_buf));
        self
    }

    /// Keeps the lab's state in `file`, so consecutive runs see each other's changes.
    pub fn lab_state(mut self, file: impl Into<PathBuf>) -> Self {
        self.options.lab_state = Some(file.into());
        self
    }

    /// Scales the lab's latencies (0 answers at once).
    pub fn lab_speed(mut self, speed: f64) -> Self {
        self.options.lab_speed = Some(speed);
        self
    }

    /// Runs against the hosts of this inventory file, over SSH.
    pub fn inventory(mut self, file: impl Into<PathBuf>) -> Self {
        self.options.inventory = Some(file.into());
        self
    }

    /// Runs against these hosts (each with its own [`Transport`]), as cluster `name`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use vzrun::transport::lock::NoLock;
    /// use vzrun::{Cmd, Event, EventSink, HeldLock, Host, LockError, Output, Session, Transport, TransportError};
    ///
    /// /// A host that answers `uname -n` and nothing else (a panel's own agent, say).
    /// #[derive(Debug)]
    /// struct Agent(&'static str);
    ///
    /// impl Transport for Agent {
    ///     fn run(&self, cmd: &Cmd) -> Result<Output, TransportError> {
    ///         let known = cmd.argv == ["uname", "-n"];
    ///         Ok(Output {
    ///             code: if known { 0 } else { 127 },
    ///             stdout: if known { format!("{}\n", self.0) } else { String::new() },
    ///             stderr: String::new(),
    ///             planned: false,
    ///         })
    ///     }
    ///     fn read_file(&self, _: &str) -> Result<Option<Vec<u8>>, TransportError> { Ok(None) }
    ///     fn mode(&self, _: &str) -> Result<Option<u32>, TransportError> { Ok(None) }
    ///     fn write_file_atomic(&self, _: &str, _: &[u8], _: Option<u32>) -> Result<(), TransportError> {
    ///         Ok(())
    ///     }
    ///     fn lock(&self, _: &str, _: &str, _: Duration) -> Result<Box<dyn HeldLock>, LockError> {
    ///         Ok(Box::new(NoLock))
    ///     }
    /// }
    ///
    /// #[derive(Default)]
    /// struct Logs(Mutex<Vec<String>>);
    /// impl EventSink for Logs {
    ///     fn event(&self, event: &Event) {
    ///         if let Event::Log { message, .. } = event {
    ///             self.0.lock().unwrap().push(message.clone());
    ///         }
    ///     }
    /// }
    ///
    /// # let state = std::env::temp_dir().join(format!("vzrun-doc-hosts-{}", std::process::id()));
    /// # std::env::set_var("VZRUN_STATE_DIR", &state);
    /// let hosts = vec![
    ///     Host::new("web-1", "10.0.0.1", vec![], Arc::new(Agent("web-1.example"))),
    ///     Host::new("web-2", "10.0.0.2", vec![], Arc::new(Agent("web-2.example"))),
    /// ];
    /// let logs = Arc::new(Logs::default());
    /// let session = Session::new().hosts("web", hosts).sink(logs.clone());
    /// let runbook = session.text(
    ///     "names",
    ///     "//! Names.\nfor h in hosts() { let n = h.query([\"uname\", \"-n\"]).stdout; n.trim(); log(`${CLUSTER}: ${n}`); }\n",
    /// );
    /// assert!(session.apply(&runbook, &BTreeMap::new()).unwrap().ok());
    /// assert_eq!(*logs.0.lock().unwrap(), ["web: web-1.example", "web: web-2.example"]);
    /// # let _ = std::fs::remove_dir_all(&state);
    /// ```
    pub fn hosts(mut self, name: impl Into<String>, hosts: Vec<Host>) -> Self {
        self.hosts = Some((name.into(), hosts));
        self
    }

    /// Reaches every host of the target through `wrap(host)` instead of its own transport
    /// (which `wrap` may call: [`Host::shared_transport`]).
    pub fn wrap_transports(
        mut self,
        wrap: impl Fn(&Host) -> Arc<dyn Transport> + Send + Sync + 'static,
    ) -> Self {
        self.wrapper = Some(Arc::new(wrap));
        self
    }

    /// Sends the run's events to `sink`.
    pub fn sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Asks `confirm` the runbooks' questions. Without one, every question is refused
    /// (exit 3), unless [`Session::yes`]:
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::sync::Arc;
    /// use vzrun::{exit, Confirm, Session};
    ///
    /// struct Operator(bool);
    /// impl Confirm for Operator {
    ///     fn who(&self) -> &str { "panel" }
    ///     fn ask(&self, _question: &str) -> Result<bool, String> { Ok(self.0) }
    /// }
    ///
    /// # let state = std::env::temp_dir().join(format!("vzrun-doc-confirm-{}", std::process::id()));
    /// # std::env::set_var("VZRUN_STATE_DIR", &state);
    /// let session = Session::new().lab(None).lab_speed(0.0);
    /// let runbook = session.text("ask", "//! Asks.\nconfirm(\"Go ahead?\");\nlog(\"went\");\n");
    /// let none = BTreeMap::new();
    /// assert_eq!(session.apply(&runbook, &none).unwrap().code, exit::REFUSED);
    /// let no = session.clone().confirm(Arc::new(Operator(false)));
    /// assert_eq!(no.apply(&runbook, &none).unwrap().code, exit::REFUSED);
    /// let yes = session.confirm(Arc::new(Operator(true)));
    /// assert!(yes.apply(&runbook, &none).unwrap().ok());
    /// # let _ = std::fs::remove_dir_all(&state);
    /// ```
    pub fn confirm(mut self, confirm: Arc<dyn Confirm>) -> Self {
        self.confirm = Some(confirm);
        self
    }

    /// Answers yes to every confirmation (as `--yes`).
    pub fn yes(mut self, yes: bool) -> Self {
        self.options.yes = yes;
        self
    }

    /// Stops a runbook after this many script operations.
    pub fn max_operations(mut self, operations: u64) -> Self {
        self.options.max_operations = Some(operations.max(1));
        self
    }

    /// Adds a rhai package of the embedder's own functions to every run's engine.
    pub fn package<P: Package + Send + Sync + 'static>(mut self, package: P) -> Self {
        self.extensions.push(Arc::new(move |engine| {
            package.register_into_engine(engine);
        }));
        self
    }

    /// Leaves vzrun's own primitives ([`VzPrimitives`](crate::VzPrimitives)) out: only the
    /// script API and the embedder's packages remain.
    pub fn without_builtin_primitives(mut self) -> Self {
        self.without_builtin_primitives = true;
        self
    }

    /// Set to stop the run at its next safe point (as Ctrl-C does).
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupted.clone()
    }

    /// A runbook of the catalog (or `$VZRUN_PATH`), by name.
    pub fn catalog(&self, name: &str) -> Result<Runbook, RunError> {
        runbook::find(name).map_err(|e| RunError::new(exit::USAGE, e.to_string()))
    }

    /// A runbook file; its directory is where its imports are found.
    pub fn file(&self, path: &Path) -> Result<Runbook, RunError> {
        runbook::from_path(path).map_err(|e| RunError::new(exit::USAGE, e.to_string()))
    }

    /// A runbook given as text (it imports from the stdlib and the built-in catalog).
    pub fn text(&self, name: &str, source: &str) -> Runbook {
        Runbook {
            name: name.to_string(),
            display_path: name.to_string(),
            import_dir: crate::engine::ImportDir::BuiltIn,
            source: source.to_string(),
        }
    }

    /// Shows what the runbook would do: probes run, changes are listed, nothing changes.
    ///
    /// Arguments are checked before anything runs, as on the command line:
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use vzrun::{exit, Session};
    ///
    /// let session = Session::new().lab(None).lab_speed(0.0);
    /// let evacuate = session.catalog("evacuate").unwrap();
    /// let error = session.plan(&evacuate, &BTreeMap::new()).unwrap_err();
    /// assert_eq!(error.code(), exit::USAGE);
    /// assert!(error.message().contains("missing argument node"));
    /// let typo = BTreeMap::from([("node".to_string(), "msk-07".into()), ("paralel".to_string(), 4_i64.into())]);
    /// assert!(session.plan(&evacuate, &typo).unwrap_err().message().contains("unknown argument \"paralel\""));
    /// ```
    pub fn plan(
        &self,
        runbook: &Runbook,
        args: &BTreeMap<String, ArgValue>,
    ) -> Result<Outcome, RunError> {
        self.run(runbook, args, true)
    }

    /// Runs the runbook.
    pub fn apply(
        &self,
        runbook: &Runbook,
        args: &BTreeMap<String, ArgValue>,
    ) -> Result<Outcome, RunError> {
        self.run(runbook, args, false)
    }

    /// Binds, chooses the target, and runs. Bad arguments or a target that cannot be reached
    /// are an `Err` (nothing ran); a run that ran is an [`Outcome`], whatever its code.
    fn run(
        &self,
        runbook: &Runbook,
        args: &BTreeMap<String, ArgValue>,
        plan: bool,
    ) -> Result<Outcome, RunError> {
        let header = runbook
            .header()
            .map_err(|e| RunError::new(exit::FAILED, e))?;
        let bound = runbook::bind_map(&header, args, self.options.yes)
            .map_err(|e| RunError::new(exit::USAGE, format!("{}: {e}", runbook.name)))?;
        let (cluster, target) = match &self.hosts {
            Some((name, hosts)) => (
                Cluster::new(name.clone(), hosts.clone(), crate::cluster::local_host()),
                serde_json::json!({"kind": "embedded", "cluster": name}),
            ),
            None => (cluster_for(&self.options)?, describe_target(&self.options)?),
        };
        let cluster = match &self.wrapper {
            Some(wrap) => cluster.map_transports(|h| wrap(h)),
            None => cluster,
        };
        let sink: Arc<dyn EventSink> = match &self.sink {
            Some(sink) => sink.clone(),
            None => Arc::new(Discard),
        };
        let confirm: Arc<dyn Confirm> = match &self.confirm {
            Some(confirm) => confirm.clone(),
            None => Arc::new(NoOneToAsk),
        };
        let code = execute(
            Job {
                runbook: runbook.clone(),
                header,
                args: bound.map,
                args_json: bound.json,
                global: self.options.clone(),
                plan,
                resume: None,
                undo: Vec::new(),
                cut_short: None,
                embedding: Embedding {
                    sink: Some(sink),
                    confirm: Some(confirm),
                    cluster: Some((cluster, target)),
                    primitives: crate::engine::Primitives {
                        builtin: !self.without_builtin_primitives,
                        extensions: self.extensions.clone(),
                    },
                    stderr: false,
                },
            },
            self.interrupted.clone(),
        );
        Ok(Outcome { code })
    }
}

/// The default sink of a session: events are dropped (the journal still records the run).
struct Discard;

impl EventSink for Discard {
    fn event(&self, _: &crate::run::event::Event) {}
}

/// The default confirmation of a session: nobody to ask, so a question is a refusal.
struct NoOneToAsk;

impl Confirm for NoOneToAsk {
    fn who(&self) -> &str {
        "nobody"
    }

    fn ask(&self, question: &str) -> Result<bool, String> {
        Err(format!(
            "{question} needs an answer: this session has no confirmation callback, so set one or answer yes"
        ))
    }
}
