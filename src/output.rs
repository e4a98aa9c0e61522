//! Writing output files: every file the project writes goes through here.
//!
//! A regular file, or a name not yet taken, is written to a temporary file beside it (`.NAME.part`),
//! synced and renamed over it, so that a reader, a crash or a failed run never sees half a file.
//! A symbolic link is followed: its final target is replaced that way and the link stays a link.
//! Anything else is opened and written straight through: a character or block device
//! (`/dev/null`), a FIFO, a socket, or an open file descriptor named through `/proc`
//! (`/dev/stdout`, `/dev/fd/N`). Renaming over those would replace the device or the pipe with a
//! plain file (run as root, `--json /dev/null` once did) and the reader would get nothing.
//!
//! A live log ([`open_log`], `landmarkpublish`'s lines) is the exception to the first rule: its
//! lines are meant to be read while they come, so a regular file is created (or truncated) in
//! place and each line is written whole as it comes; special files are written through as above.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Links followed before giving up (Linux's own limit for one path).
const MAX_LINKS: usize = 40;

/// Writes `bytes` to `path` as the module documentation says.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let out = Output::create(path)?;
    let mut file = out.open()?;
    file.write_all(bytes).map_err(|e| out.error("cannot write", e))?;
    drop(file);
    out.commit()
}

/// Opens `path` for a log written line by line while a stream runs (see the module
/// documentation): a regular file or free name is created or truncated (a symbolic link's final
/// target, the link kept), anything else (a device, a FIFO, `/dev/stdout`) is opened for
/// appending; a folder is an error.
pub fn open_log(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    let file = match destination(path)? {
        Destination::Replace(target) => options.write(true).create(true).truncate(true).open(target),
        Destination::Direct => options.append(true).open(path),
    };
    file.map_err(|e| Error::Other(format!("cannot open {}: {e}", path.display())))
}

/// One output being written, for writers that open the file themselves (an encoder's file sink,
/// a tensor library): they write to [`Output::path`], then [`Output::commit`] puts it in place.
/// Dropped without a commit, the temporary file is removed and the target left as it was.
#[derive(Debug)]
pub struct Output {
    /// The name the caller gave, for messages.
    named: PathBuf,
    /// Where the bytes go: the temporary file, or the special file itself.
    path: PathBuf,
    /// The regular file the temporary file replaces; `None` when written straight through.
    target: Option<PathBuf>,
    committed: bool,
}

impl Output {
    /// Decides how `path` is written (nothing is opened or created yet). A stale temporary file
    /// from an interrupted run is removed.
    pub fn create(path: &Path) -> Result<Output> {
        let named = path.to_path_buf();
        match destination(path)? {
            Destination::Direct => Ok(Output { path: named.clone(), named, target: None, committed: false }),
            Destination::Replace(target) => {
                let path = temporary(&target);
                let out = Output { named, path, target: Some(target), committed: false };
                match std::fs::remove_file(&out.path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(out.error("cannot remove", e)),
                    _ => Ok(out),
                }
            }
        }
    }

    /// Where the writer puts the bytes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the output goes straight to its target (a special file) rather than through a
    /// temporary file.
    pub fn is_direct(&self) -> bool {
        self.target.is_none()
    }

    /// Opens [`Output::path`] for writing: a new temporary file, or the special file as it is
    /// (appending, so that `/dev/stdout` redirected to a file with `>>` keeps what it holds).
    pub fn open(&self) -> Result<File> {
        let mut options = OpenOptions::new();
        match self.target {
            Some(_) => options.write(true).create_new(true),
            None => options.append(true),
        };
        options.open(&self.path).map_err(|e| self.error("cannot open", e))
    }

    /// Puts the written file in place: syncs the temporary file and renames it over the target
    /// (nothing to do for a special file).
    pub fn commit(mut self) -> Result<()> {
        self.committed = true;
        let Some(target) = self.target.clone() else { return Ok(()) };
        let synced = File::open(&self.path).and_then(|f| f.sync_all());
        if let Err(e) = synced.and_then(|()| std::fs::rename(&self.path, &target)) {
            let _ = std::fs::remove_file(&self.path);
            return Err(self.error("cannot write", e));
        }
        // The rename is durable only once the directory entry is; failing that is not worth an error.
        if let Some(dir) = target.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn error(&self, what: &str, e: std::io::Error) -> Error {
        let via = if self.path == self.named { String::new() } else { format!(" (through {})", self.path.display()) };
        Error::Other(format!("{what} {}{via}: {e}", self.named.display()))
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed && self.target.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How a path is written.
#[derive(Debug, PartialEq)]
enum Destination {
    /// A temporary file renamed over this regular file (or name not yet taken).
    Replace(PathBuf),
    /// Opened and written as it is.
    Direct,
}

/// What is written for `path`: a regular file or free name is replaced, anything else is written
/// straight through; a folder is an error.
fn destination(path: &Path) -> Result<Destination> {
    let fail = |what: &str| Error::Other(format!("cannot write {}: {what}", path.display()));
    let full = resolve(path)?;
    if full.starts_with("/proc") {
        return Ok(Destination::Direct);
    }
    match std::fs::symlink_metadata(&full) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Destination::Replace(full)),
        Err(e) => Err(fail(&e.to_string())),
        Ok(meta) if meta.is_file() => Ok(Destination::Replace(full)),
        Ok(meta) if meta.is_dir() => Err(fail("it is a folder")),
        Ok(_) => Ok(Destination::Direct),
    }
}

/// `path` with its symbolic links followed to the end (which need not exist yet), in a folder
/// with its own links resolved. Links are not followed out of /proc: those name open file
/// descriptors (`/dev/stdout` -> `/proc/self/fd/1`, `/dev/fd/N`), which are written as they are.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let fail = |what: String| Error::Other(format!("cannot write {}: {what}", path.display()));
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let name = current.file_name().ok_or_else(|| fail("not a file path".into()))?.to_owned();
        let parent = current.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(parent).map_err(|e| fail(format!("{}: {e}", parent.display())))?;
        let full = dir.join(&name);
        if dir.starts_with("/proc") || !std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(full);
        }
        // A relative link is relative to its own folder; an absolute one replaces it.
        current = dir.join(std::fs::read_link(&full).map_err(|e| fail(format!("{}: {e}", full.display())))?);
    }
    Err(fail(format!("more than {MAX_LINKS} symbolic links")))
}

/// `.NAME.part` beside `target`.
fn temporary(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".part");
    target.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt;
    use std::process::Command;

    use super::*;

    /// A fresh folder for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("steadyface-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Runs `program args` (mkfifo, mknod); false when it fails.
    fn make(program: &str, args: &[&std::ffi::OsStr]) -> bool {
        Command::new(program).args(args).status().is_ok_and(|s| s.success())
    }

    #[test]
    fn a_log_truncates_a_regular_file_in_place_and_refuses_a_folder() {
        let dir = scratch("log");
        let (file, link) = (dir.join("log.jsonl"), dir.join("link.jsonl"));
        std::fs::write(&file, "old contents\n").unwrap();
        std::os::unix::fs::symlink("log.jsonl", &link).unwrap();
        let mut log = open_log(&link).expect("opens through the link");
        log.write_all(b"line\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "line\n", "written in place, as it comes");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(names(&dir), ["link.jsonl", "log.jsonl"]);
        let err = open_log(&dir).unwrap_err().to_string();
        assert!(err.contains("it is a folder"), "{err}");
        let err = open_log(&dir.join("missing/log.jsonl")).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn regular_files_are_replaced_whole_and_no_temporary_file_stays() {
        let dir = scratch("regular");
        let path = dir.join("out.json");
        write(&path, b"first").expect("new file");
        write(&path, b"second").expect("replaced");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(&dir), ["out.json"]);
        // A writer that fails: the target keeps its content and the temporary file goes.
        let out = Output::create(&path).expect("output");
        assert!(!out.is_direct() && out.path() != path);
        std::fs::write(out.path(), b"half").expect("partial");
        drop(out);
        assert_eq!((std::fs::read(&path).expect("read"), names(&dir)), (b"second".to_vec(), vec!["out.json".into()]));
        let err = write(&dir, b"x").expect_err("a folder is refused").to_string();
        assert!(err.contains("folder") && err.contains(&*dir.to_string_lossy()), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_fifo_reader_receives_every_byte_and_the_fifo_stays() {
        let dir = scratch("fifo");
        let fifo = dir.join("pipe");
        assert!(make("mkfifo", &[fifo.as_os_str()]), "mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = fifo.clone();
        std::thread::spawn(move || tx.send(std::fs::read(&reader)));
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        write(&fifo, &bytes).expect("write to the FIFO");
        assert!(std::fs::symlink_metadata(&fifo).expect("stat").file_type().is_fifo(), "the FIFO was replaced");
        // A reader left waiting (the FIFO never opened for writing) fails the test, not hangs it.
        let got = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the reader got nothing");
        assert!(got.expect("read the FIFO") == bytes, "the reader got other bytes");
        assert_eq!(names(&dir), ["pipe"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_symlink_stays_a_link_and_its_target_is_replaced() {
        let dir = scratch("symlink");
        std::fs::create_dir_all(dir.join("real")).expect("folder");
        std::fs::write(dir.join("real/out.json"), b"old").expect("target");
        // A relative link to a relative link: both stay, the file at the end is replaced.
        std::os::unix::fs::symlink("real/out.json", dir.join("hop")).expect("link");
        std::os::unix::fs::symlink("hop", dir.join("out.json")).expect("link");
        write(&dir.join("out.json"), b"new").expect("write through the links");
        for link in ["out.json", "hop"] {
            assert!(std::fs::symlink_metadata(dir.join(link)).expect("stat").file_type().is_symlink(), "{link}");
        }
        assert_eq!(std::fs::read(dir.join("real/out.json")).expect("read"), b"new");
        assert_eq!(
            (names(&dir), names(&dir.join("real"))),
            (vec!["hop".into(), "out.json".into(), "real".into()], vec!["out.json".into()])
        );
        // A dangling link: its target is created.
        std::os::unix::fs::symlink("real/later.json", dir.join("later")).expect("link");
        write(&dir.join("later"), b"made").expect("write through a dangling link");
        assert!(std::fs::symlink_metadata(dir.join("later")).expect("stat").file_type().is_symlink());
        assert_eq!(std::fs::read(dir.join("real/later.json")).expect("read"), b"made");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_character_device_is_written_straight_through() {
        let dir = scratch("device");
        let null = dir.join("null");
        // /dev/null's numbers, made here: never the system's /dev.
        if !make("mknod", &[null.as_os_str(), "c".as_ref(), "1".as_ref(), "3".as_ref()]) {
            eprintln!("skipped: mknod is not allowed here (not root)");
            return;
        }
        write(&null, b"discarded").expect("write to the device");
        let out = Output::create(&null).expect("output");
        assert!(out.is_direct() && out.path() == null);
        out.commit().expect("nothing to rename");
        assert!(std::fs::symlink_metadata(&null).expect("stat").file_type().is_char_device());
        assert_eq!(names(&dir), ["null"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What `/dev/stdout` is: an open descriptor named through /proc, written straight through
    /// (appended), never replaced.
    #[test]
    fn an_open_descriptor_named_through_proc_is_appended_to() {
        use std::os::fd::AsRawFd;
        let dir = scratch("descriptor");
        let path = dir.join("log.txt");
        std::fs::write(&path, b"kept\n").expect("file");
        let open = OpenOptions::new().append(true).open(&path).expect("open");
        let alias = PathBuf::from(format!("/proc/self/fd/{}", open.as_raw_fd()));
        write(&alias, b"added\n").expect("write through the descriptor");
        assert_eq!(std::fs::read(&path).expect("read"), b"kept\nadded\n");
        assert_eq!(names(&dir), ["log.txt"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
