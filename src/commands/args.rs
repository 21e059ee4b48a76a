//! Binding command-line arguments to a runbook's header.
//!
//! The header is turned into a clap command at run time, so a runbook gets the same `--help`,
//! typed values and error messages (exit 2, with usage) as a built-in subcommand.

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use rhai::{Dynamic, Map};

use crate::run::options::RunOptions as GlobalOpts;
use crate::runbook::{Header, ParamKind, Runbook, Value};

/// The parsed arguments, as the script sees them and as the journal records them.
#[derive(Debug, Clone)]
pub struct BoundArgs {
    pub map: Map,
    pub json: serde_json::Value,
    pub global: GlobalOpts,
}

fn param_id(key: &str) -> String {
    format!("param.{key}")
}

/// The header flags that are answered by a global option of the same name.
fn binds_to_global(name: &str) -> bool {
    name == "yes"
}

fn global_longs() -> Vec<String> {
    GlobalOpts::augment_args(Command::new("vzrun"))
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// The clap command for a runbook; also what `vzrun NAME --help` prints.
pub fn command_for(runbook: &Runbook, header: &Header) -> Result<Command, String> {
    let mut about = header.summary.clone();
    if !header.details.is_empty() {
        about.push_str("\n\n");
        about.push_str(&header.details.join("\n"));
    }
    if header.destructive {
        about.push_str("\n\nDestructive: asks for confirmation; --yes answers it.");
    }
    let mut cmd = Command::new(runbook.name.clone())
        .bin_name(format!("vzrun {}", runbook.name))
        .about(header.summary.clone())
        .long_about(about)
        .no_binary_name(true);
    let reserved = global_longs();
    for param in &header.params {
        if reserved.contains(&param.flag()) {
            if binds_to_global(&param.flag()) && param.kind == ParamKind::Flag {
                continue;
            }
            return Err(format!(
                "{}: `{}` is a vzrun option; give the runbook parameter another name",
                runbook.display_path, param.name
            ));
        }
        let value_name = param.name.to_uppercase().replace('-', "_");
        let help = match &param.range {
            Some(range) => format!("{} [range: {range}]", param.help),
            None => param.help.clone(),
        };
        let arg = Arg::new(param_id(&param.key())).help(help);
        let range = param.range;
        let arg = match &param.kind {
            ParamKind::Arg => arg.value_name(value_name).required(true),
            ParamKind::Flag => arg.long(param.flag()).action(ArgAction::SetTrue),
            ParamKind::Opt { default } => {
                let arg = arg
                    .long(param.flag())
                    .value_name(value_name)
                    .allow_negative_numbers(true);
                match default {
                    None => arg,
                    Some(value) => {
                        let arg = arg.default_value(value.to_string());
                        match value {
                            Value::Int(_) => arg.value_parser(move |text: &str| {
                                let v: i64 = text.parse().map_err(|e| format!("{e}"))?;
                                in_range(v as f64, range).map(|()| v)
                            }),
                            Value::Float(_) => arg.value_parser(move |text: &str| {
                                let v: f64 = text.parse().map_err(|e| format!("{e}"))?;
                                if !v.is_finite() {
                                    return Err(format!("{text} is not a finite number"));
                                }
                                in_range(v, range).map(|()| v)
                            }),
                            Value::Bool(_) => arg.value_parser(clap::value_parser!(bool)),
                            Value::Str(_) => arg,
                        }
                    }
                }
            }
        };
        cmd = cmd.arg(arg);
    }
    Ok(GlobalOpts::augment_args(cmd))
}

/// Whether a value is within the option's declared range (clap reports the text, exit 2).
fn in_range(value: f64, range: Option<crate::runbook::Range>) -> Result<(), String> {
    match range {
        Some(r) if !r.contains(value) => Err(format!("{value} is outside {r}")),
        _ => Ok(()),
    }
}

/// Parses `argv` (what follows the runbook name) against the header.
pub fn bind_args(
    runbook: &Runbook,
    header: &Header,
    argv: &[OsString],
    before: &GlobalOpts,
) -> Result<BoundArgs, BindError> {
    let cmd = command_for(runbook, header).map_err(BindError::Header)?;
    let matches = cmd.try_get_matches_from(argv).map_err(BindError::Usage)?;
    let after = GlobalOpts::from_arg_matches(&matches).map_err(BindError::Usage)?;
    let global = before.clone().merge(after);

    let mut map = Map::new();
    let mut json = serde_json::Map::new();
    for param in &header.params {
        let key = param.key();
        let (dynamic, value) = read_param(&matches, param, &key, &global);
        map.insert(key.as_str().into(), dynamic);
        json.insert(key, value);
    }
    Ok(BoundArgs {
        map,
        json: serde_json::Value::Object(json),
        global,
    })
}

fn read_param(
    matches: &ArgMatches,
    param: &crate::runbook::Param,
    key: &str,
    global: &GlobalOpts,
) -> (Dynamic, serde_json::Value) {
    let id = param_id(key);
    match &param.kind {
        ParamKind::Flag if binds_to_global(&param.flag()) => (global.yes.into(), global.yes.into()),
        ParamKind::Flag => {
            let on = matches.get_flag(&id);
            (on.into(), on.into())
        }
        ParamKind::Arg | ParamKind::Opt { default: None } => match matches.get_one::<String>(&id) {
            Some(s) => (s.clone().into(), s.clone().into()),
            None => (Dynamic::UNIT, serde_json::Value::Null),
        },
        ParamKind::Opt {
            default: Some(default),
        } => match default {
            Value::Int(_) => {
                let v = *matches.get_one::<i64>(&id).expect("has a default");
                (v.into(), v.into())
            }
            Value::Float(_) => {
                let v = *matches.get_one::<f64>(&id).expect("has a default");
                (v.into(), v.into())
            }
            Value::Bool(_) => {
                let v = *matches.get_one::<bool>(&id).expect("has a default");
                (v.into(), v.into())
            }
            Value::Str(_) => {
                let v = matches
                    .get_one::<String>(&id)
                    .expect("has a default")
                    .clone();
                (v.clone().into(), v.into())
            }
        },
    }
}

#[derive(Debug)]
pub enum BindError {
    /// The header itself is wrong (a runbook bug).
    Header(String),
    /// The operator's arguments are wrong, or `--help` was asked for.
    Usage(clap::Error),
}
