//! `json::` — edits JSON documents as text (vcmmd's /etc/vz/vstorage-limits.conf), keeping
//! the key order, indentation and line breaks a person gave the file, so the diff of a
//! change shows only the value that changed. Reading is Rhai's own `parse_json`.

use rhai::plugin::*;

use super::options::strings_from_array;
use crate::edit::json;
use crate::failure::Failure;

#[export_module]
pub mod api {
    use super::*;

    /// The text of JSON document `text` with the member at `keys` (object keys from the
    /// top) set to `value` (a number, string, bool, `()` for null, array or map). An
    /// existing member's value is replaced where it stands (an equal value changes nothing);
    /// a missing one is added after its object's last member, spaced like the others, with
    /// the objects missing on the way. Every other byte is kept. Text that is not JSON, or a
    /// path through something that is not an object, is an error saying where.
    /// Nothing is written: pass the result to `file::write`.
    ///
    /// ```rhai
    /// let text = file::read(h, "/etc/vz/vstorage-limits.conf");
    /// let edited = json::edit(text, ["VStorage", "Limit", "Max"], 34359738368);
    /// file::write(h, "/etc/vz/vstorage-limits.conf", edited);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn edit(
        ctx: NativeCallContext,
        text: &str,
        keys: rhai::Array,
        value: Dynamic,
    ) -> Result<String, Box<EvalAltResult>> {
        let at = |failure: Failure| {
            Box::new(EvalAltResult::ErrorRuntime(
                Dynamic::from(failure),
                ctx.call_position(),
            ))
        };
        let keys = strings_from_array(&keys, "keys").map_err(at)?;
        let value: serde_json::Value = rhai::serde::from_dynamic(&value).map_err(|e| {
            at(Failure::bad_input(
                "value",
                format!("cannot be written as JSON: {e}"),
            ))
        })?;
        json::set(text, &keys, &value).map_err(|e| {
            at(Failure::failed(format!(
                "json::edit {}: {e}",
                keys.join(".")
            )))
        })
    }
}
