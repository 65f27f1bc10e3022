//! What chatctl prints: tables for people, JSON lines for scripts (`--json`), the same data.

use eventstore::RecordedEvent;
use serde::Serialize;
use std::io::{self, BufWriter, Stdout, Write};

/// Standard output, buffered; every command writes through it.
pub struct Out {
    pub json: bool,
    writer: BufWriter<Stdout>,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            writer: BufWriter::new(io::stdout()),
        }
    }

    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.writer.write_all(text.as_bytes())?;
        self.writer.write_all(b"\n")
    }

    pub fn json_line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, value)?;
        self.writer.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// One event: a JSON line (the export format's fields), or a table row.
    pub fn event(&mut self, event: &RecordedEvent) -> io::Result<()> {
        if self.json {
            self.json_line(&EventJson::from(event))
        } else {
            let line = format!(
                "{:>10}  {}  {:<49}  {:>7}  {:<18}  {}",
                event.position,
                event.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f"),
                event.stream_id,
                event.stream_version,
                event.event_type,
                event.data
            );
            self.line(&line)
        }
    }

    /// The header above [`Out::event`] rows (nothing in JSON).
    pub fn event_header(&mut self) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let line = format!(
            "{:>10}  {:<23}  {:<49}  {:>7}  {:<18}  {}",
            "POSITION", "RECORDED (UTC)", "STREAM", "VERSION", "TYPE", "DATA"
        );
        self.line(&line)
    }

    /// A table sized to its contents (for short lists).
    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let render = |cells: &mut dyn Iterator<Item = &str>| {
            let mut line = String::new();
            for (i, (cell, width)) in cells.zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = width.saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.trim_end().to_owned()
        };
        let header = render(&mut headers.iter().copied());
        self.line(&header)?;
        for row in rows {
            let line = render(&mut row.iter().map(String::as_str));
            self.line(&line)?;
        }
        Ok(())
    }
}

/// An event as JSON: the same fields as a line of `chatctl export`.
#[derive(Serialize)]
pub struct EventJson<'a> {
    position: i64,
    event_id: uuid::Uuid,
    stream_id: &'a str,
    stream_version: i64,
    event_type: &'a str,
    schema_version: i32,
    data: &'a serde_json::Value,
    metadata: &'a eventstore::Metadata,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

impl<'a> From<&'a RecordedEvent> for EventJson<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: event.event_id,
            stream_id: &event.stream_id,
            stream_version: event.stream_version,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            data: &event.data,
            metadata: &event.metadata,
            recorded_at: event.recorded_at,
        }
    }
}
