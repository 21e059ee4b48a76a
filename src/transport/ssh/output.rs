//! A command's output over SSH, read with a limit (see `transport::max_output`): a command
//! that writes without end (a device file, a runaway log) must fail, not fill this
//! machine's memory until its deadline.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads `pipe` to its end: `None` when it brought more than `limit` bytes (reading stops
/// there and the pipe is closed). A read error ends the output, as the end of the pipe does.
pub(super) async fn read_capped(
    pipe: Option<impl AsyncRead + Unpin>,
    limit: usize,
) -> Option<Vec<u8>> {
    let Some(mut pipe) = pipe else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return Some(out),
            Ok(n) if out.len() + n > limit => return None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_up_to_the_limit_is_read_and_past_it_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read = |bytes: &'static [u8], limit| runtime.block_on(read_capped(Some(bytes), limit));
        assert_eq!(read(b"abc", 3), Some(b"abc".to_vec()));
        assert_eq!(read(b"abcd", 3), None);
        assert_eq!(read(b"", 0), Some(Vec::new()));
        let none: Option<&[u8]> = None;
        assert_eq!(runtime.block_on(read_capped(none, 1)), Some(Vec::new()));
    }
}
