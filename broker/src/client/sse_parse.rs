//! Server-Sent Events framing (WHATWG HTML §9.2.6) over raw bytes: network chunks are buffered
//! until a line is complete, so a multi-byte character split across chunks stays whole. Lines end
//! with LF, CRLF or CR; `data:` lines of one event are joined with LF; comments are skipped.

/// One dispatched event: its `event:` type (empty = "message") and its data.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Event {
    pub event: String,
    pub data: String,
}

#[derive(Default)]
pub(super) struct Parser {
    buf: Vec<u8>,
    data: String,
    has_data: bool,
    event: String,
    started: bool,
    after_cr: bool,
}

impl Parser {
    /// Adds a chunk and returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(chunk);
        if !self.started {
            if self.buf.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buf) {
                return Vec::new();
            }
            self.started = true;
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
        }
        let mut events = Vec::new();
        let mut start = 0;
        if std::mem::take(&mut self.after_cr) && self.buf.first() == Some(&b'\n') {
            start = 1; // the LF of a CRLF split across chunks
        }
        while let Some(i) = self.buf[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            let end = start + i;
            let next = if self.buf[end] == b'\n' {
                end + 1
            } else if end + 1 < self.buf.len() {
                end + 1 + usize::from(self.buf[end + 1] == b'\n')
            } else {
                self.after_cr = true; // a CR last: an LF first in the next chunk belongs to it
                end + 1
            };
            // LF and CR never occur inside a UTF-8 sequence: a complete line decodes whole.
            let line = String::from_utf8_lossy(&self.buf[start..end]).into_owned();
            start = next;
            if let Some(e) = self.line(&line) {
                events.push(e);
            }
        }
        self.buf.drain(..start);
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            let event = std::mem::take(&mut self.event);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(Event { event, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            _ => {} // id, retry: the client resumes from the offset in the data
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: Vec<Event>) -> Vec<String> {
        events.into_iter().map(|e| e.data).collect()
    }

    #[test]
    fn multibyte_character_split_across_chunks_stays_whole() {
        let text = "data: {\"value\":\"日本語 😀\"}\n\n".as_bytes();
        let emoji = text.windows(4).position(|w| w == "😀".as_bytes()).unwrap();
        for cut in [emoji + 1, emoji + 2, emoji + 3, 11, 12] {
            let mut p = Parser::default();
            let mut got = data(p.push(&text[..cut]));
            got.extend(data(p.push(&text[cut..])));
            assert_eq!(
                got,
                vec!["{\"value\":\"日本語 😀\"}".to_string()],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_byte_a_chunk() {
        let text = "id: 1\nevent: message\ndata: ü€\n\n: keep-alive\n\ndata: b\n\n";
        let mut p = Parser::default();
        let mut got = Vec::new();
        for b in text.as_bytes() {
            got.extend(p.push(std::slice::from_ref(b)));
        }
        assert_eq!(
            got,
            vec![
                Event {
                    event: "message".into(),
                    data: "ü€".into()
                },
                Event {
                    event: String::new(),
                    data: "b".into()
                },
            ]
        );
    }

    #[test]
    fn crlf_cr_multiline_data_and_bom() {
        let mut p = Parser::default();
        let mut got = data(p.push(b"\xEF\xBB\xBFdata:a\r\ndata: b\r"));
        got.extend(data(p.push(b"\n\r\ndata:c\r\r")));
        assert_eq!(got, vec!["a\nb".to_string(), "c".to_string()]);
        // A CR-only stream: an event is complete at its blank line, without waiting for more.
        assert_eq!(data(p.push(b"data:d\r")), Vec::<String>::new());
        assert_eq!(data(p.push(b"\r")), vec!["d".to_string()]);
    }
}
