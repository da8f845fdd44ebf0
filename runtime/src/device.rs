//! Where a model runs: `cpu` (burn's ndarray backend, always built) or `cuda[:N]`
//! (burn-cuda, only in a build with the `cuda` feature).
//!
//! burn-cuda panics on the first tensor when there is no GPU or driver, and it does so on
//! its own device thread, where the caller cannot catch it (the caller may even wait for
//! ever). So [`cuda_available`] asks the driver itself first (`libcuda.so.1`, loaded with
//! `dlopen`: is it there, does `cuInit` succeed, is device N one of the devices), and only
//! then runs one tiny computation through burn-cuda, with a silent panic hook and a time
//! limit, turning whatever goes wrong into an error message.

use std::fmt;

/// The device a model runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    /// A CUDA device by index (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// `cpu`, `cuda` (device 0) or `cuda:N`.
pub fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "cpu" => return Ok(DeviceChoice::Cpu),
        "cuda" => return Ok(DeviceChoice::Cuda(0)),
        _ => {}
    }
    if let Some(n) = t.strip_prefix("cuda:") {
        return n.parse::<usize>().map(DeviceChoice::Cuda).map_err(|_| {
            format!("`{s}`: a CUDA device index is a number, e.g. `cuda:0` or `cuda:1`")
        });
    }
    Err(format!(
        "unknown device `{s}`; the devices are `cpu`, `cuda` and `cuda:N`"
    ))
}

/// Whether this build can run on CUDA at all.
pub const CUDA_COMPILED: bool = cfg!(feature = "cuda");

/// The error for a CUDA device in a build without the `cuda` feature.
pub const NO_CUDA_BUILD: &str =
    "this archc was built without CUDA; rebuild with `cargo build --release --features cuda`";

/// Whether CUDA device `index` can run a model: `Ok` or a message saying why not. Never
/// panics and prints nothing.
pub fn cuda_available(index: usize) -> Result<(), String> {
    #[cfg(not(feature = "cuda"))]
    {
        let _ = index;
        Err(NO_CUDA_BUILD.to_string())
    }
    #[cfg(feature = "cuda")]
    {
        cuda::probe(index)
    }
}

/// The CUDA backend (f32 floats, i32 ints).
#[cfg(feature = "cuda")]
pub type Cuda = burn_cuda::Cuda<f32, i32>;

/// The burn device for CUDA device `index`. Call [`cuda_available`] first.
#[cfg(feature = "cuda")]
pub fn cuda_device(index: usize) -> burn_cuda::CudaDevice {
    burn_cuda::CudaDevice::new(index)
}

#[cfg(feature = "cuda")]
mod cuda {
    use super::Cuda;
    use burn::tensor::Tensor;
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::{Duration, Instant};

    /// How long the first computation may take (burn-cuda compiles its kernels then).
    const FIRST_RUN_LIMIT: Duration = Duration::from_secs(180);
    /// After a panic on a burn-cuda thread, how long to wait for the probe to answer.
    const AFTER_PANIC: Duration = Duration::from_secs(3);

    pub fn probe(index: usize) -> Result<(), String> {
        #[cfg(unix)]
        driver::check(index)?;
        first_tensor(index)
    }

    /// One tiny computation on the device, with every panic (on any thread) silenced and
    /// recorded, and a time limit in case a burn-cuda thread died and left us waiting.
    fn first_tensor(index: usize) -> Result<(), String> {
        let panics: Arc<Mutex<Vec<String>>> = Arc::default();
        let recorded = panics.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "a panic without a message".to_string()
            };
            if let Ok(mut v) = recorded.lock() {
                v.push(msg);
            }
        }));
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("archc-cuda-probe".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(|| {
                    let device = super::cuda_device(index);
                    let t = Tensor::<Cuda, 1>::from_floats([1.0, 2.0, 3.0], &device);
                    let s: f32 = (t * 2.0).sum().into_scalar();
                    s
                });
                let _ = tx.send(r.is_ok_and(|s| (s - 12.0).abs() < 1e-3));
            });
        let result = match spawned {
            Err(e) => Err(format!("cannot start the CUDA probe thread: {e}")),
            Ok(_) => {
                let start = Instant::now();
                let mut first_panic: Option<Instant> = None;
                loop {
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Ok(true) => break Ok(()),
                        Ok(false) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                            break Err(failure(index, &panics))
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    let panicked = panics.lock().map(|v| !v.is_empty()).unwrap_or(false);
                    if panicked && first_panic.is_none() {
                        first_panic = Some(Instant::now());
                    }
                    if first_panic.is_some_and(|t| t.elapsed() > AFTER_PANIC) {
                        break Err(failure(index, &panics));
                    }
                    if start.elapsed() > FIRST_RUN_LIMIT {
                        break Err(format!(
                            "CUDA device {index} did not finish a tiny computation in {} s",
                            FIRST_RUN_LIMIT.as_secs()
                        ));
                    }
                }
            }
        };
        std::panic::set_hook(previous);
        result
    }

    fn failure(index: usize, panics: &Mutex<Vec<String>>) -> String {
        let first = panics
            .lock()
            .ok()
            .and_then(|v| v.first().cloned())
            .unwrap_or_else(|| "no reason given".into());
        let mut msg = format!("CUDA device {index} cannot be used: {first}");
        if first.to_ascii_lowercase().contains("nvrtc") {
            msg.push_str(
                " (burn-cuda compiles its kernels with NVRTC: install the CUDA toolkit's \
                 libnvrtc or add its directory to LD_LIBRARY_PATH)",
            );
        }
        msg
    }

    /// The CUDA driver API, asked directly: the library, `cuInit`, the device count.
    #[cfg(unix)]
    mod driver {
        use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

        const RTLD_NOW: c_int = 2;

        extern "C" {
            fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
            fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
            fn dlerror() -> *mut c_char;
        }

        type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
        type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
        type CuGetErrorName = unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int;

        fn last_error() -> String {
            // SAFETY: dlerror returns null or a NUL-terminated string owned by libc,
            // valid until the next dl* call on this thread; it is copied at once.
            unsafe {
                let e = dlerror();
                if e.is_null() {
                    "unknown error".into()
                } else {
                    CStr::from_ptr(e).to_string_lossy().into_owned()
                }
            }
        }

        /// The library handle (never closed: burn-cuda loads the same library).
        fn open() -> Result<*mut c_void, String> {
            let mut errors = Vec::new();
            for name in ["libcuda.so.1", "libcuda.so"] {
                let c = CString::new(name).expect("no NUL in a library name");
                // SAFETY: a valid NUL-terminated name; loading the NVIDIA driver library
                // runs its initialisers, as burn-cuda's own loading would.
                let h = unsafe { dlopen(c.as_ptr(), RTLD_NOW) };
                if !h.is_null() {
                    return Ok(h);
                }
                errors.push(last_error());
            }
            Err(format!(
                "cannot load the CUDA driver library libcuda.so.1 ({}); is the NVIDIA driver \
                 installed and is there a GPU?",
                errors.first().map(String::as_str).unwrap_or("not found")
            ))
        }

        fn symbol(h: *mut c_void, name: &str) -> Result<*mut c_void, String> {
            let c = CString::new(name).expect("no NUL in a symbol name");
            // SAFETY: `h` is a live handle from dlopen and `c` a valid C string.
            let p = unsafe { dlsym(h, c.as_ptr()) };
            if p.is_null() {
                Err(format!(
                    "the CUDA driver library has no `{name}` ({}); the driver is too old or broken",
                    last_error()
                ))
            } else {
                Ok(p)
            }
        }

        fn describe(h: *mut c_void, code: c_int) -> String {
            let hint = match code {
                100 => " (no CUDA-capable device is detected)",
                35 => " (the driver is older than this CUDA needs)",
                999 => " (unknown error: a driver/kernel-module mismatch, or the GPU is in a bad state)",
                _ => "",
            };
            let name = symbol(h, "cuGetErrorName").ok().and_then(|p| {
                // SAFETY: `cuGetErrorName` has this signature in every CUDA driver API
                // version; it writes a pointer to a static string or leaves it null.
                let f: CuGetErrorName = unsafe { std::mem::transmute(p) };
                let mut s: *const c_char = std::ptr::null();
                let rc = unsafe { f(code, &mut s) };
                (rc == 0 && !s.is_null())
                    // SAFETY: a static NUL-terminated string owned by the driver.
                    .then(|| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
            });
            match name {
                Some(n) => format!("{n}, code {code}{hint}"),
                None => format!("code {code}{hint}"),
            }
        }

        pub fn check(index: usize) -> Result<(), String> {
            let h = open()?;
            let init = symbol(h, "cuInit")?;
            let count = symbol(h, "cuDeviceGetCount")?;
            // SAFETY: the driver API's `CUresult cuInit(unsigned int)` and
            // `CUresult cuDeviceGetCount(int*)`, resolved from the driver library.
            let init = unsafe { std::mem::transmute::<*mut c_void, CuInit>(init) };
            let count = unsafe { std::mem::transmute::<*mut c_void, CuDeviceGetCount>(count) };
            let rc = unsafe { init(0) };
            if rc != 0 {
                return Err(format!(
                    "the CUDA driver failed to start ({})",
                    describe(h, rc)
                ));
            }
            let mut n: c_int = 0;
            let rc = unsafe { count(&mut n) };
            if rc != 0 {
                return Err(format!(
                    "the CUDA driver cannot count its devices ({})",
                    describe(h, rc)
                ));
            }
            let n = n.max(0) as usize;
            if n == 0 {
                return Err("the CUDA driver is installed but sees no GPU".into());
            }
            if index >= n {
                return Err(format!(
                    "there is no CUDA device {index}: the driver sees {n} (cuda:0{})",
                    if n > 1 {
                        format!(" to cuda:{}", n - 1)
                    } else {
                        String::new()
                    }
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!(parse_device("cpu"), Ok(DeviceChoice::Cpu));
        assert_eq!(parse_device("CUDA"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(parse_device("cuda:3"), Ok(DeviceChoice::Cuda(3)));
        assert!(parse_device("cuda:x").unwrap_err().contains("number"));
        assert!(parse_device("tpu")
            .unwrap_err()
            .contains("unknown device `tpu`"));
        assert_eq!(DeviceChoice::Cuda(1).to_string(), "cuda:1");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_rebuild() {
        assert_eq!(cuda_available(0), Err(NO_CUDA_BUILD.to_string()));
    }
}
