//! Where log lines go: stdout, and a copy of each line to whatever was composed in at install
//! time (CloudWatch Logs' queue, when shipping is on).

use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

/// Takes a copy of every log line besides stdout. Called on the thread that logs, once per
/// line: it must not wait.
pub(crate) trait LineCopy: Send + Sync {
    /// One whole line, without its newline.
    fn copy_line(&self, line: &[u8]);
}

/// The writer of the log layer: each `write` is one whole line, to stdout and to each copy.
#[derive(Clone, Default)]
pub(crate) struct Output {
    copies: Vec<Arc<dyn LineCopy>>,
}

impl Output {
    /// Stdout, and `copies`.
    pub(crate) fn new(copies: Vec<Arc<dyn LineCopy>>) -> Self {
        Self { copies }
    }
}

impl Output {
    /// Writes whole lines, each ending in `\n`: a copy of each to every copy, then all of
    /// them to stdout in one write (one system call for a flush's EMF lines, not one each;
    /// stdout's lock keeps them whole among other threads' lines).
    pub(crate) fn write_lines(&self, lines: &[Vec<u8>]) -> std::io::Result<()> {
        use std::io::Write as _;
        for copy in &self.copies {
            for line in lines {
                copy.copy_line(line.strip_suffix(b"\n").unwrap_or(line));
            }
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&lines.concat())?;
        stdout.flush()
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.copies)
    }
}

/// The writer [`Output`] makes for one line.
pub(crate) struct LineWriter<'a>(&'a [Arc<dyn LineCopy>]);

impl std::io::Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        for copy in self.0 {
            copy.copy_line(line.strip_suffix(b"\n").unwrap_or(line));
        }
        std::io::stdout().write_all(line)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}
