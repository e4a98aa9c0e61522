//! ONNX Runtime: finding the shared library, execution providers, and a process-wide session cache.
//!
//! The library is loaded dynamically (never at plugin registration), from the first place that has
//! it: `ORT_DYLIB_PATH`, the install directory baked in at build time, the project's `.venv`
//! (made by `make setup`), then system and user Python site-packages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use ort::environment::GlobalThreadPoolOptions;
use ort::session::Session;

use crate::error::{Error, Result};

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// CUDA when the CUDA provider loads, CPU otherwise (said once in the log).
    #[default]
    Auto,
    Cpu,
    /// CUDA on the given device id; fails loudly when unavailable.
    Cuda(i32),
}

impl Device {
    /// Parses `auto`, `cpu`, `cuda` (the id comes separately, as in the element's properties).
    pub fn parse(name: &str, device_id: i32) -> Result<Self> {
        match name {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(device_id)),
            other => Err(Error::Other(format!("unknown device '{other}' (expected auto, cpu or cuda)"))),
        }
    }
}

/// Candidate locations of `libonnxruntime.so`, in search order.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        files.push(PathBuf::from(p));
    }
    if let Some(dir) = option_env!("STEADYFACE_ORT_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    let source_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    dirs.extend(site_packages_dirs(&source_venv.join("lib")));
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        dirs.extend(site_packages_dirs(&Path::new(&venv).join("lib")));
    }
    dirs.push(PathBuf::from("/usr/local/lib/steadyface"));
    dirs.push(PathBuf::from("/usr/lib/steadyface"));
    for lib in ["/usr/local/lib", "/usr/lib"] {
        dirs.extend(site_packages_dirs(Path::new(lib)));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.extend(site_packages_dirs(&Path::new(&home).join(".local/lib")));
    }
    for dir in dirs {
        let dir = if dir.ends_with("site-packages") || dir.ends_with("dist-packages") {
            dir.join("onnxruntime/capi")
        } else {
            dir
        };
        files.push(newest_versioned(&dir).unwrap_or_else(|| dir.join("libonnxruntime.so")));
    }
    files
}

/// `<lib>/python3.*/{site,dist}-packages` directories that exist.
fn site_packages_dirs(lib: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python3")))
        .flat_map(|p| [p.join("site-packages"), p.join("dist-packages")])
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found
}

/// The wheel ships `libonnxruntime.so.1.31.1` only (no unversioned link); pick the highest
/// version in `dir`.
fn newest_versioned(dir: &Path) -> Option<PathBuf> {
    let version = |p: &PathBuf| -> Option<Vec<u32>> {
        let rest = p.file_name()?.to_str()?.strip_prefix("libonnxruntime.so")?;
        rest.split('.').filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect()
    };
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| version(&p).map(|v| (v, p)))
        .max()
        .map(|(_, p)| p)
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process; later calls return the same outcome.
pub fn environment() -> Result<&'static ort::environment::Environment> {
    let outcome = ENVIRONMENT.get_or_init(|| load_environment().map_err(|e| e.to_string()));
    outcome.as_ref().map_err(|msg| Error::Other(msg.clone()))
}

fn load_environment() -> Result<ort::environment::Environment> {
    // An explicit choice is never silently replaced by another library.
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)
        && !p.is_file()
    {
        return Err(Error::OrtLoad { path: p, reason: "ORT_DYLIB_PATH names a file that does not exist".into() });
    }
    let candidates = library_candidates();
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        return Err(Error::OrtNotFound { searched: candidates });
    };
    let failed = |e: &dyn std::fmt::Display| Error::OrtLoad { path: path.clone(), reason: e.to_string() };
    // The options are made through the library, so only once it is loaded.
    let builder = ort::init_from(path).map_err(|e| failed(&e))?;
    let threads = GlobalThreadPoolOptions::default()
        .with_intra_threads(intra_threads())
        .and_then(|o| o.with_spin_control(spinning()))
        .map_err(|e| failed(&e))?;
    builder.with_name("steadyface").with_global_thread_pool(threads).build().map_err(|e| failed(&e))
}

/// Threads of the process-wide pool every session runs its operators on:
/// `STEADYFACE_THREADS` when set; else, when the pool spins ([`spinning`]), one per core, at
/// most 4, and when it does not (the default), one: the calling thread, with no pool threads.
/// One pool instead of one per session, because sessions run one after the other (detector,
/// backbone, stabilizer) and a session's idle threads would otherwise spin beside the next
/// one's. Without spinning, every operator split across threads wakes a sleeping thread and
/// waits for it: the landmark model then ran no faster on two threads than on one
/// (models/MODELS.md), while `steadyface track` spent a quarter to a third more CPU per frame
/// on the wake-ups (docs/benchmarks.md, 2026-12-05); the frame's other work (decoding, the
/// search for new faces) runs beside it on the other cores anyway.
pub fn intra_threads() -> usize {
    let default = || {
        if spinning() { std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) } else { 1 }
    };
    std::env::var("STEADYFACE_THREADS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or_else(default).max(1)
}

/// Whether the pool's idle threads spin waiting for work (`STEADYFACE_SPIN=1`; default off).
/// Spinning answers the next operator sooner but burns the CPU it waits with: measured in the
/// element (docs/benchmarks.md, 2026-12-04), it doubled the CPU per tracked frame (17.5 against
/// 8.9 ms at 960x540) for a median latency 0.5-1 ms lower with one stream and higher p95 latency
/// with two. Live apps share the CPU, so the default does not spin.
pub fn spinning() -> bool {
    std::env::var("STEADYFACE_SPIN").is_ok_and(|v| v.trim() == "1")
}

/// A model's sessions, shared by every user in the process. A session runs one call at a time
/// (`Session::run` takes `&mut self`), so the pool grows to one session per core as concurrent
/// users (streams on their own threads) ask, and no further. The pool, and with it every
/// session, is released when its last user drops it (an element's `stop()`).
pub struct SessionPool {
    key: SessionKey,
    sessions: Mutex<Vec<Arc<Mutex<Session>>>>,
    limit: usize,
}

impl SessionPool {
    /// Runs `f` on a session that no other thread is using; when all are busy, loads another
    /// (up to one per core) or waits for the first.
    pub fn with_session<R>(&self, f: impl FnOnce(&mut Session) -> R) -> Result<R> {
        let sessions: Vec<Arc<Mutex<Session>>> = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for session in &sessions {
            if let Ok(mut guard) = session.try_lock() {
                return Ok(f(&mut guard));
            }
        }
        let session = if sessions.len() < self.limit { self.grow()? } else { sessions[0].clone() };
        let mut guard = session.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut guard))
    }

    /// Loads sessions until there is one per user of the pool (`users`, at most one per core),
    /// so that streams starting together have theirs before their first frame.
    fn reserve(&self, users: usize) -> Result<()> {
        while self.sessions.lock().unwrap_or_else(|p| p.into_inner()).len() < users.min(self.limit) {
            self.grow()?;
        }
        Ok(())
    }

    /// Loads one more session (outside the lock: others keep running theirs meanwhile) and adds
    /// it to the pool unless the pool filled up in the meantime.
    fn grow(&self) -> Result<Arc<Mutex<Session>>> {
        let session = Arc::new(Mutex::new(load_session(&self.key.path, self.key.device)?));
        let mut all = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() < self.limit {
            all.push(session.clone());
        }
        Ok(session)
    }

    /// The signature (inputs, outputs) of the model.
    pub fn outlets<R>(&self, f: impl FnOnce(&Session) -> R) -> R {
        let first = self.sessions.lock().unwrap_or_else(|p| p.into_inner())[0].clone();
        let guard = first.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }
}

#[derive(Hash, PartialEq, Eq, Clone)]
struct SessionKey {
    path: PathBuf,
    device: Device,
}

/// The pools in use: a pool lives as long as a model holds it.
static POOLS: LazyLock<Mutex<HashMap<SessionKey, Weak<SessionPool>>>> = LazyLock::new(Default::default);
/// Why `device=auto` runs on the CPU, once a session found CUDA unavailable.
static AUTO_FALLBACK: OnceLock<String> = OnceLock::new();

/// Why `device=auto` fell back to the CPU in this process (CUDA unavailable), if it did: for the
/// caller to say once (the element logs it, `steadyface info` prints it).
pub fn auto_fallback() -> Option<&'static str> {
    AUTO_FALLBACK.get().map(String::as_str)
}

/// The process-wide sessions for `path` on `device`, loading the first on first use (so that a
/// bad model fails here), and another for each further user, up to one per core.
pub fn session(path: &Path, device: Device) -> Result<Arc<SessionPool>> {
    if path.is_dir() {
        let reason = "it is a folder, not a model file".to_string();
        return Err(Error::ModelInvalid { path: path.to_path_buf(), reason });
    }
    if !path.is_file() {
        return Err(Error::ModelMissing { path: path.to_path_buf() });
    }
    let key = SessionKey { path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()), device };
    let mut pools = POOLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&key).and_then(Weak::upgrade) {
        drop(pools);
        // Every holder of the pool is a model, i.e. a user.
        pool.reserve(Arc::strong_count(&pool))?;
        return Ok(pool);
    }
    pools.retain(|_, pool| pool.strong_count() > 0);
    let first = Arc::new(Mutex::new(load_session(&key.path, device)?));
    let limit = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(SessionPool { key: key.clone(), sessions: Mutex::new(vec![first]), limit });
    pools.insert(key, Arc::downgrade(&pool));
    Ok(pool)
}

/// Whether sessions of the model at `path` are loaded (some model in the process holds them).
pub fn is_loaded(path: &Path) -> bool {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let pools = POOLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    pools.iter().any(|(key, pool)| key.path == path && pool.strong_count() > 0)
}

fn load_session(path: &Path, device: Device) -> Result<Session> {
    let env = environment()?;
    let invalid = |e: ort::Error| Error::ModelInvalid { path: path.to_path_buf(), reason: e.to_string() };
    let mut builder = Session::builder(env).map_err(invalid)?;
    let cuda = |id: i32| ort::ep::CUDA::default().with_device_id(id).build().error_on_failure();
    builder = match device {
        Device::Cpu => builder,
        Device::Cuda(id) => builder.with_execution_providers([cuda(id)]).map_err(|e| {
            Error::CudaUnavailable(format!(
                "{e} (install the onnxruntime-gpu wheel and its CUDA libraries, see README)"
            ))
        })?,
        Device::Auto => builder.with_execution_providers([cuda(0)]).unwrap_or_else(|e| {
            let _ = AUTO_FALLBACK.set(e.to_string());
            e.recover()
        }),
    };
    builder.commit_from_file(path).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_versioned_library() {
        let dir = std::env::temp_dir().join(format!("sf-ort-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["libonnxruntime.so.1.9.0", "libonnxruntime.so.1.31.1", "other.so"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        assert_eq!(newest_versioned(&dir).unwrap().file_name().unwrap(), "libonnxruntime.so.1.31.1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn not_found_message_lists_every_place() {
        let e = Error::OrtNotFound { searched: vec!["/a/libonnxruntime.so".into(), "/b/libonnxruntime.so".into()] };
        let msg = e.to_string();
        assert!(msg.contains("/a/libonnxruntime.so\n  /b/libonnxruntime.so") && msg.contains("make setup"), "{msg}");
    }
}
