//! Server-sent events: splits a byte stream into `event:`/`data:` records.
//!
//! Follows the WHATWG event-stream rules that matter for model APIs: lines
//! end in `\n`, `\r\n` or `\r` (a `\r` at the end of a chunk waits for the
//! next chunk in case a `\n` follows); `:` starts a comment; one space after
//! the field colon is dropped; several `data:` lines join with `\n`; a blank
//! line dispatches the record. Unlike browsers, a last record that the
//! server did not close with a blank line is still dispatched at end of
//! stream, because some servers omit it. A line or record longer than
//! [`MAX_RECORD_BYTES`] is an error, so a server cannot make the decoder
//! hold unbounded memory.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// The longest line, and the longest record, the decoder holds.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// A line or record over the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event-stream line or record is longer than {limit} bytes")]
pub struct TooLong {
    pub limit: usize,
}

/// Why a record stream ended early.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError<E> {
    #[error(transparent)]
    Stream(E),
    #[error(transparent)]
    TooLong(TooLong),
}

/// One dispatched record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseRecord {
    /// The `event:` field, if the record had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental decoder: feed it chunks as they arrive, in any split.
#[derive(Debug)]
pub struct SseDecoder {
    buf: BytesMut,
    event: Option<String>,
    data: Option<String>,
    limit: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::with_limit(MAX_RECORD_BYTES)
    }
}

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }

    /// A decoder that refuses lines and records longer than `limit`.
    pub fn with_limit(limit: usize) -> Self {
        SseDecoder {
            buf: BytesMut::new(),
            event: None,
            data: None,
            limit,
        }
    }

    /// Adds a chunk and returns the records it completed; a line or record
    /// over the limit is an error (and the decoder should be dropped).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseRecord>, TooLong> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(line) = self.take_line(false) {
            if let Some(record) = self.line(&line) {
                out.push(record);
            }
        }
        let held = self.buf.len() + self.data.as_ref().map_or(0, String::len);
        if held > self.limit {
            self.buf.clear();
            self.data = None;
            return Err(TooLong { limit: self.limit });
        }
        Ok(out)
    }

    /// End of input: the unterminated last line and record, if any.
    pub fn finish(&mut self) -> Option<SseRecord> {
        let mut out = None;
        while let Some(line) = self.take_line(true) {
            if let Some(record) = self.line(&line) {
                out = Some(record);
            }
        }
        if out.is_none() {
            out = self.dispatch();
        }
        out
    }

    /// Cuts the next complete line off the buffer (without its ending).
    fn take_line(&mut self, at_eof: bool) -> Option<Bytes> {
        let pos = self.buf.iter().position(|&b| b == b'\n' || b == b'\r');
        match pos {
            Some(i) if self.buf[i] == b'\r' => {
                if i + 1 == self.buf.len() && !at_eof {
                    // A `\n` may follow in the next chunk.
                    return None;
                }
                let line = self.buf.split_to(i).freeze();
                let ending = if self.buf.get(1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                let _ = self.buf.split_to(ending);
                Some(line)
            }
            Some(i) => {
                let line = self.buf.split_to(i).freeze();
                let _ = self.buf.split_to(1);
                Some(line)
            }
            None if at_eof && !self.buf.is_empty() => Some(self.buf.split().freeze()),
            None => None,
        }
    }

    fn line(&mut self, line: &[u8]) -> Option<SseRecord> {
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseRecord> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseRecord { event, data })
    }
}

/// Turns a byte stream into a record stream. An error of the byte stream is
/// passed on and ends the record stream.
pub fn records<S, E>(bytes: S) -> impl Stream<Item = Result<SseRecord, RecordError<E>>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: Send,
{
    struct State<S> {
        bytes: S,
        decoder: SseDecoder,
        ready: VecDeque<SseRecord>,
        ended: bool,
    }
    let state = State {
        bytes,
        decoder: SseDecoder::new(),
        ready: VecDeque::new(),
        ended: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(record) = st.ready.pop_front() {
                return Some((Ok(record), st));
            }
            if st.ended {
                return None;
            }
            match st.bytes.next().await {
                Some(Ok(chunk)) => match st.decoder.feed(&chunk) {
                    Ok(records) => st.ready.extend(records),
                    Err(e) => {
                        st.ended = true;
                        return Some((Err(RecordError::TooLong(e)), st));
                    }
                },
                Some(Err(e)) => {
                    st.ended = true;
                    return Some((Err(RecordError::Stream(e)), st));
                }
                None => {
                    st.ended = true;
                    st.ready.extend(st.decoder.finish());
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: Option<&str>, data: &str) -> SseRecord {
        SseRecord {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    /// Feeds `input` split at every possible pair of positions and checks
    /// the records are always the same.
    fn decode_all_splits(input: &str) -> Vec<SseRecord> {
        let bytes = input.as_bytes();
        let mut whole = SseDecoder::new();
        let mut expected = whole.feed(bytes).unwrap();
        expected.extend(whole.finish());
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut d = SseDecoder::new();
                let mut got = d.feed(&bytes[..i]).unwrap();
                got.extend(d.feed(&bytes[i..j]).unwrap());
                got.extend(d.feed(&bytes[j..]).unwrap());
                got.extend(d.finish());
                assert_eq!(got, expected, "split at {i},{j} of {input:?}");
            }
        }
        expected
    }

    #[test]
    fn events_and_multiline_data() {
        let got = decode_all_splits(
            "event: message_start\ndata: {\"a\":1}\n\nevent: delta\ndata: line1\ndata: line2\n\n",
        );
        assert_eq!(
            got,
            vec![
                rec(Some("message_start"), "{\"a\":1}"),
                rec(Some("delta"), "line1\nline2")
            ]
        );
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        let got = decode_all_splits("event: a\r\ndata: x\r\n\r\ndata: y\r\rdata:z\n\n");
        assert_eq!(
            got,
            vec![rec(Some("a"), "x"), rec(None, "y"), rec(None, "z")]
        );
    }

    #[test]
    fn comments_unknown_fields_and_empty_records_are_skipped() {
        let got = decode_all_splits(
            ": keep-alive\n\nid: 7\nretry: 10\n\nevent: ping\n\ndata: [DONE]\n\n",
        );
        assert_eq!(got, vec![rec(None, "[DONE]")]);
    }

    #[test]
    fn final_record_without_blank_line_is_dispatched() {
        assert_eq!(
            decode_all_splits("data: one\n\ndata: two"),
            vec![rec(None, "one"), rec(None, "two")]
        );
        assert_eq!(
            decode_all_splits("event: e\ndata: three\r"),
            vec![rec(Some("e"), "three")]
        );
    }

    #[test]
    fn only_one_leading_space_is_removed_and_multibyte_text_survives_splits() {
        let got = decode_all_splits("data:  two spaces\n\ndata:héllo ✓\n\n");
        assert_eq!(got, vec![rec(None, " two spaces"), rec(None, "héllo ✓")]);
    }

    #[tokio::test]
    async fn record_stream_passes_errors_on_and_stops() {
        let chunks: Vec<Result<Bytes, String>> = vec![
            Ok(Bytes::from_static(b"data: a\n")),
            Ok(Bytes::from_static(b"\ndata: b")),
            Err("reset".to_string()),
            Ok(Bytes::from_static(b"\n\n")),
        ];
        let got: Vec<_> = records(futures_util::stream::iter(chunks)).collect().await;
        assert_eq!(
            got,
            vec![
                Ok(rec(None, "a")),
                Err(RecordError::Stream("reset".to_string()))
            ]
        );
    }

    #[test]
    fn a_line_or_record_over_the_limit_is_an_error_not_memory() {
        let mut d = SseDecoder::with_limit(64);
        assert_eq!(
            d.feed(b"data: short\n\n").unwrap(),
            vec![rec(None, "short")]
        );
        // One endless line, fed in pieces: refused once over the limit.
        assert!(d.feed(&[b'x'; 40]).is_ok());
        assert_eq!(d.feed(&[b'x'; 40]), Err(TooLong { limit: 64 }));
        // Many data lines that never end the record.
        let mut d = SseDecoder::with_limit(64);
        let mut failed = false;
        for _ in 0..20 {
            if d.feed(b"data: 0123456789\n").is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
