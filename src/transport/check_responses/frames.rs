//! The gRPC frames of a unary answer, read as they pass ([`Frames`]): one message, no
//! compression, within the size limit, and a status at the end.

use http::HeaderValue;
use tonic::Code;

use super::{malformed, text_of};
use crate::error::BoxError;
use crate::transport::failure::TransportFailure;

/// Where the reading of a unary answer's gRPC frames stands.
pub(super) struct Frames {
    max_message: usize,
    /// The answer's `grpc-encoding`, taken off its head.
    encoding: Option<HeaderValue>,
    /// The status the head held, if it held one.
    pub(super) head_status: Option<HeaderValue>,
    /// The head held the status and ended the stream: nothing more may come.
    trailers_only: bool,
    /// The bytes of a length prefix read so far.
    prefix: [u8; 5],
    prefix_len: usize,
    /// The bytes of the current message still to come.
    remaining: u64,
    messages: u32,
    pub(super) trailers: bool,
    /// Set once an error was returned: the body ends there.
    pub(super) failed: bool,
}

impl Frames {
    pub(super) fn new(
        max_message: usize,
        encoding: Option<HeaderValue>,
        head_status: Option<HeaderValue>,
        trailers_only: bool,
    ) -> Self {
        Self {
            max_message,
            encoding,
            head_status,
            trailers_only,
            prefix: [0; 5],
            prefix_len: 0,
            remaining: 0,
            messages: 0,
            trailers: false,
            failed: false,
        }
    }

    /// Reads a data frame's bytes.
    pub(super) fn data(&mut self, mut data: &[u8]) -> Result<(), BoxError> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= take as u64;
                data = &data[take..];
                continue;
            }
            let take = data.len().min(5 - self.prefix_len);
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&data[..take]);
            self.prefix_len += take;
            data = &data[take..];
            if self.prefix_len == 5 {
                self.prefix_len = 0;
                self.message_starts()?;
            }
        }
        Ok(())
    }

    /// A length prefix has been read whole.
    pub(super) fn message_starts(&mut self) -> Result<(), BoxError> {
        let [flag, len @ ..] = self.prefix;
        let len = u32::from_be_bytes(len);
        self.messages += 1;
        if self.trailers_only {
            return Err(malformed(
                "the server sent a message after a trailers-only answer",
            ));
        }
        if self.messages > 1 {
            return Err(malformed(&format!(
                "the server sent {} messages for a unary call",
                self.messages
            )));
        }
        match (flag, &self.encoding) {
            (0, _) => {}
            (1, Some(encoding)) => {
                let name = String::from_utf8_lossy(encoding.as_bytes()).into_owned();
                return Err(malformed(&format!(
                    "the server compressed its answer ({}), which this client did not offer \
                     to accept",
                    text_of(name.as_bytes())
                )));
            }
            (1, None) => {
                return Err(malformed(
                    "the server sent a compressed message without a grpc-encoding",
                ));
            }
            (flag, _) => {
                return Err(malformed(&format!(
                    "the server sent a message with compression flag {flag} (only 0 and 1 exist)"
                )));
            }
        }
        if len as usize > self.max_message {
            return Err(TransportFailure::new(
                Code::ResourceExhausted,
                format!(
                    "the answer's message of {len} bytes is larger than the limit of {} bytes \
                     (max_response_size)",
                    self.max_message
                ),
            )
            .into_status());
        }
        self.remaining = u64::from(len);
        Ok(())
    }

    /// The answer ended; `status` is its grpc-status, if it had one.
    pub(super) fn ended(&self, status: Option<&HeaderValue>) -> Result<(), BoxError> {
        // A server's error stands on its own, whatever came before it.
        let ok = status.is_none_or(|s| s.as_bytes() == b"0");
        if !ok {
            return Ok(());
        }
        if self.remaining > 0 || self.prefix_len > 0 {
            return Err(malformed("the answer ended inside a message"));
        }
        if status.is_none() {
            return Err(malformed("the answer ended without a grpc-status"));
        }
        if self.messages == 0 {
            return Err(malformed("the server answered OK without a message"));
        }
        Ok(())
    }
}
