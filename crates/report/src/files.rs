//! Files in and out: the one atomic writer every file of a run directory (and a compare
//! page) goes through, and the CSV files read and written through the typed rows of
//! `pushbench_model::rows` with the `csv` crate.

use crate::ReportError;
use pushbench_model::rows::CsvRow;
use std::io::Write as _;
use std::path::Path;

/// Writes `path` through `.<file>.tmp` beside it, renamed into place once synced, so a
/// reader (or an interrupted run) never sees half a file; the temporary file is removed
/// when writing fails.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ReportError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

/// A CSV file of `rows` under `header` (the rows' own column names when `None`).
pub fn csv_text<T: CsvRow>(header: Option<&[&str]>, rows: &[T]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let header = header.unwrap_or(T::columns());
    w.write_record(header).expect("writing to memory");
    for r in rows {
        w.serialize(r).expect("rows of plain values serialize");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("the rows are UTF-8")
}

/// The rows of a CSV file with their line numbers. `rename` maps a column of the file to
/// the field it fills (a percentile file's `latency_us` to `value`). A column the row type
/// needs and the file lacks is an error naming it, unless the type lists it as optional
/// ([`CsvRow::OPTIONAL`]); a cell that does not read is an error naming its line and column.
pub fn read_csv<T: CsvRow>(
    path: &Path,
    rename: &[(&str, &str)],
) -> Result<Vec<(usize, T)>, ReportError> {
    let parse = |line: usize, message: String| ReportError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let mut header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    if !rename.is_empty() {
        header = header
            .iter()
            .map(|h| {
                rename
                    .iter()
                    .find(|(from, _)| *from == h)
                    .map_or(h, |r| r.1)
            })
            .collect();
    }
    if let Some(missing) = T::columns()
        .iter()
        .find(|c| !T::OPTIONAL.contains(c) && !header.iter().any(|h| h == **c))
    {
        return Err(parse(1, format!("no column `{missing}`")));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        // Each cell by its column's name; serde_path_to_error names the column of a cell
        // that does not read, whatever the field's own deserializer said.
        let cells = header.iter().zip(record.iter());
        let map = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(cells);
        let row = serde_path_to_error::deserialize::<_, T>(map).map_err(|e| {
            let message = match e.path().to_string().as_str() {
                "." => e.inner().to_string(),
                column => format!("column `{column}`: {}", e.inner()),
            };
            parse(line, message)
        })?;
        rows.push((line, row));
    }
    Ok(rows)
}

fn csv_error(path: &Path, e: csv::Error) -> ReportError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReportError::Io {
            path: path.to_owned(),
            source,
        },
        other => ReportError::Parse {
            path: path.to_owned(),
            line: 0,
            message: format!("{other:?}"),
        },
    }
}

/// `value` as `serde`'s data model writes it, for the JSON-like numbers reports print
/// (`20.0` messages/s).
pub fn json_number(value: f64) -> String {
    serde_json::to_string(&value).unwrap_or_else(|_| value.to_string())
}
