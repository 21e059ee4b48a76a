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
            Some(v) => super::seconds(&v, &format!("{} option `{key}`", self.function)).map(Some),
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
