//! Reading the `#{...}` option maps that primitives take as their last argument.
//!
//! An unknown key is an error naming it: a typo such as `#{presrve_uuid: true}` must not be
//! silently ignored by a tool that changes clusters.

use rhai::{Dynamic, Map};

use crate::failure::Failure;

pub struct OptionMap {
    function: &'static str,
    map: Map,
}

impl OptionMap {
    pub fn new(function: &'static str, map: Map) -> Self {
        OptionMap { function, map }
    }

    /// A value of any type, for options that accept several.
    pub fn take_dynamic(&mut self, key: &str) -> Option<Dynamic> {
        self.take(key)
    }

    fn take(&mut self, key: &str) -> Option<Dynamic> {
        self.map.remove(key).filter(|v| !v.is_unit())
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Dynamic) -> Failure {
        Failure::bad_input(
            &format!("{} option `{key}`", self.function),
            format!("expected {expected}, got {}", got.type_name()),
        )
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .map_err(|_| self.wrong_type(key, "true or false", &v)),
        }
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            Some(v) => Err(self.wrong_type(key, "a string", &v)),
        }
    }

    pub fn int(&mut self, key: &str) -> Result<Option<i64>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .map_err(|_| self.wrong_type(key, "an integer", &v)),
        }
    }

    pub fn seconds(&mut self, key: &str) -> Result<Option<std::time::Duration>, Failure> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => seconds(&v, &format!("{} option `{key}`", self.function)).map(Some),
        }
    }

    /// Errors if any key was not read.
    pub fn finish(self) -> Result<(), Failure> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(Failure::bad_input(
                &format!("{} option", self.function),
                format!("unknown option `{key}`"),
            )),
        }
    }
}

/// Converts a Rhai array of strings (numbers are accepted and printed) into an argv.
pub fn strings_from_array(array: &rhai::Array, what: &str) -> Result<Vec<String>, Failure> {
    array
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.is_string() || item.is_int() || item.is_float() || item.is_bool() {
                Ok(item.to_string())
            } else {
                Err(Failure::bad_input(
                    &format!("{what}[{i}]"),
                    format!("expected a string, got {}", item.type_name()),
                ))
            }
        })
        .collect()
}

/// Seconds given as an int or a float.
pub fn seconds(value: &Dynamic, what: &str) -> Result<std::time::Duration, Failure> {
    let secs = if let Some(i) = value.clone().try_cast::<i64>() {
        i as f64
    } else if let Some(f) = value.clone().try_cast::<f64>() {
        f
    } else {
        return Err(Failure::bad_input(
            what,
            format!("expected seconds as a number, got {}", value.type_name()),
        ));
    };
    if !(0.0..=31_536_000.0).contains(&secs) {
        return Err(Failure::bad_input(
            what,
            format!("{secs} seconds is out of range"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A command's result as runbooks see it: `code`, `stdout`, `stderr`, `planned`.
pub fn output_to_map(output: crate::transport::cmd::Output) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("code".into(), (output.code as i64).into());
    map.insert("stdout".into(), output.stdout.into());
    map.insert("stderr".into(), output.stderr.into());
    map.insert("planned".into(), output.planned.into());
    map
}
