//! Ordering a number against a value of another type is an error, not `false`.
//!
//! rhai (1.27) answers `false` to `<`, `<=`, `>` and `>=` between values of different types
//! when one of them is not a number (`"12" < 100`, `() >= 90`, `true > 0`): no error, no
//! warning. In a runbook that is a guard that never fires: a number still in text form
//! (tool output not yet parsed with `parse_int`) or a value that is missing (`()`) compared
//! with a limit lets the run go ahead as if the check had passed, and the change is made.
//!
//! The same for `==` and `!=` between text and a number: `"3" == 3` is `false` and
//! `"3" != 3` is `true`, so an id still in text form (an argument not parsed yet, a field of
//! tool output) never matches the number it names, and a filter on it keeps or drops
//! everything without a word.
//!
//! rhai's fast path for operators answers from its built-in table before looking at
//! registered functions, so the engine turns it off (`set_fast_operators(false)`) and
//! registers, for each such pair of types, the operators as a function that fails naming
//! both values. Numbers of both kinds (`1 < 2.5`), text with text, chars with text, and
//! `==` / `!=` with `()` (`x == ()` is how a script asks for a missing value) or between
//! other types are left as they are.

use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Variant, FLOAT, INT};

use crate::failure::Failure;

const ORDERINGS: &[&str] = &["<", "<=", ">", ">="];

/// Equality too, for text against a number.
const ALL: &[&str] = &["<", "<=", ">", ">=", "==", "!="];

fn what(value: &Dynamic) -> String {
    if value.is_unit() {
        "() (no value)".to_string()
    } else if value.is_string() {
        format!("the text {value:?}")
    } else if value.is_int() || value.is_float() {
        format!("the number {value}")
    } else {
        format!("{} {value}", value.type_name())
    }
}

/// Registers the operators `ops` of `A` against `B` as failures.
fn refuse<A: Variant + Clone, B: Variant + Clone>(engine: &mut Engine, ops: &[&'static str]) {
    for &op in ops {
        engine.register_fn(
            op,
            move |a: A, b: B| -> Result<bool, Box<EvalAltResult>> {
                let (a, b) = (Dynamic::from(a), Dynamic::from(b));
                Err(Failure::failed(format!(
                    "cannot compare {} with {} (`{op}`): rhai would answer {} and the check would pass unnoticed; convert it first (parse_int, parse_float, to_string) or test for () with ==",
                    what(&a),
                    what(&b),
                    op == "!="
                ))
                .into())
            },
        );
    }
}

/// `refuse` of the orderings for `A` against `B` and `B` against `A`.
fn refuse_both<A: Variant + Clone, B: Variant + Clone>(engine: &mut Engine) {
    refuse::<A, B>(engine, ORDERINGS);
    refuse::<B, A>(engine, ORDERINGS);
}

/// `refuse` of the orderings and equality for `A` against `B` and `B` against `A`.
fn refuse_all_both<A: Variant + Clone, B: Variant + Clone>(engine: &mut Engine) {
    refuse::<A, B>(engine, ALL);
    refuse::<B, A>(engine, ALL);
}

/// Turns off rhai's fast operators and registers the failing orderings (see above).
pub fn register(engine: &mut Engine) {
    engine.set_fast_operators(false);
    // A number against anything but a number.
    refuse_all_both::<INT, ImmutableString>(engine);
    refuse_both::<INT, ()>(engine);
    refuse_both::<INT, bool>(engine);
    refuse_both::<INT, char>(engine);
    refuse_all_both::<FLOAT, ImmutableString>(engine);
    refuse_both::<FLOAT, ()>(engine);
    refuse_both::<FLOAT, bool>(engine);
    refuse_both::<FLOAT, char>(engine);
    // () (a missing value) against text, bools and chars.
    refuse_both::<(), ImmutableString>(engine);
    refuse_both::<(), bool>(engine);
    refuse_both::<(), char>(engine);
    // Text against a bool.
    refuse_both::<ImmutableString, bool>(engine);
}
