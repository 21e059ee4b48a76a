//! `within(seconds, || ...)`: a deadline for everything an action runs (see `crate::deadline`).

use rhai::plugin::*;
use rhai::FnPtr;

use crate::failure::{ApiResult, Failure};

use super::seconds;

#[export_module]
pub mod deadline_api {
    use super::*;

    /// Runs `action` with a deadline: every command it runs (also in `parallel` branches it
    /// starts) must finish within `seconds` from now, whatever its own timeout; past it a
    /// command fails as timed out (catch it to go on). For probes of nodes that may hang:
    /// one dead node must not hold a report back for the 600 s command default.
    ///
    /// ```rhai
    /// let up = true;
    /// try { within(10, || prlctl::list(h)); } catch (e) { up = false; warn(`${h.name}: ${e}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn within(ctx: NativeCallContext, seconds: Dynamic, action: FnPtr) -> ApiResult<Dynamic> {
        let budget = super::seconds(&seconds, "within seconds")?;
        if budget.is_zero() {
            return Err(Failure::bad_input("within seconds", "must be more than 0").into());
        }
        crate::deadline::within(budget, || action.call_within_context::<Dynamic>(&ctx, ()))
    }
}
