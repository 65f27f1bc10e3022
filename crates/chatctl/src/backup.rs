//! `export` and `import`: the log as JSON lines and back.

use crate::output::Out;
use crate::CtlError;
use eventstore::{EventStore, ExportedEvent};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// Events per page read from the snapshot, and per insert on import.
const PAGE: i64 = 10_000;

/// The first bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Writes events `from..=to` of a snapshot of the log; returns how many.
pub async fn export(
    store: &EventStore,
    output: Option<&Path>,
    zstd: bool,
    from: i64,
    to: Option<i64>,
) -> Result<u64, CtlError> {
    let file: Box<dyn Write> = match output {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(|e| {
            CtlError::Usage(format!("cannot create {}: {e}", path.display()))
        })?)),
        None => Box::new(BufWriter::new(io::stdout())),
    };
    let zstd = zstd || output.is_some_and(|p| p.extension().is_some_and(|e| e == "zst"));
    let mut writer = if zstd {
        Sink::Zstd(zstd::stream::write::Encoder::new(file, 3)?)
    } else {
        Sink::Plain(file)
    };
    let mut snapshot = store.snapshot().await?;
    let head = snapshot.head_position().await?;
    let up_to = to.map_or(head, |to| to.min(head));
    let mut after = from.saturating_sub(1).max(0);
    let mut written = 0;
    loop {
        let page = snapshot.export_page(after, up_to, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, line) in &page {
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\n")?;
        }
        written += page.len() as u64;
    }
    writer.finish()?;
    Ok(written)
}

/// Where an export goes: as it is, or through a zstd encoder whose end must be written.
enum Sink {
    Plain(Box<dyn Write>),
    Zstd(zstd::stream::write::Encoder<'static, Box<dyn Write>>),
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(writer) => writer.write_all(bytes),
            Self::Zstd(encoder) => encoder.write_all(bytes),
        }
    }

    /// Ends the zstd frame (errors included, unlike a drop) and flushes.
    fn finish(self) -> io::Result<()> {
        match self {
            Self::Plain(mut writer) => writer.flush(),
            Self::Zstd(encoder) => encoder.finish()?.flush(),
        }
    }
}

/// Loads an export file (`-`: stdin) in one transaction; returns how many events.
pub async fn import(
    store: &EventStore,
    out: &mut Out,
    file: &Path,
    allow_non_empty: bool,
) -> Result<(), CtlError> {
    let mut reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(BufReader::new(io::stdin()))
    } else {
        Box::new(BufReader::new(File::open(file).map_err(|e| {
            CtlError::Usage(format!("cannot open {}: {e}", file.display()))
        })?))
    };
    if reader.fill_buf()?.starts_with(&ZSTD_MAGIC) {
        reader = Box::new(BufReader::new(zstd::stream::read::Decoder::with_buffer(
            reader,
        )?));
    }
    let mut importer = store.import(allow_non_empty).await?;
    let mut batch = Vec::with_capacity(PAGE as usize);
    for (number, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: ExportedEvent = serde_json::from_str(&line).map_err(|e| {
            CtlError::Usage(format!(
                "{} line {}: not an exported event: {e}",
                file.display(),
                number + 1
            ))
        })?;
        batch.push(event);
        if batch.len() as i64 >= PAGE {
            importer.write(&batch).await?;
            batch.clear();
        }
    }
    importer.write(&batch).await?;
    let imported = importer.finish().await?;
    if out.json {
        out.json_line(&serde_json::json!({ "imported": imported }))?;
    } else {
        out.line(&format!("imported {imported} events"))?;
    }
    Ok(())
}
