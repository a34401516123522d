//! Runs a test's code on a thread of its own, in a network namespace of its
//! own (with its own loopback and ICMP settings), optionally with its own
//! view of `/etc/resolv.conf` and without `CAP_NET_RAW`. Linux keeps
//! namespaces and capabilities per thread, so nothing else in the process,
//! or on the machine, sees those changes. This needs root; where it is not
//! permitted, the test says so loudly and passes, or, with
//! `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI), fails.
//!
//! The system calls are the ones `unshare`, `ip link set lo up`, `sysctl`,
//! `mount --bind` and `setpriv` make.

use std::future::Future;
use std::io;

/// What the thread changes about itself before running the test's code.
#[derive(Clone, Copy, Default)]
pub struct Sandbox {
    /// Bring the new namespace's loopback up (it starts down).
    pub loopback_up: bool,
    /// Open `ping_group_range` to every group, for unprivileged ICMP.
    pub unprivileged_icmp: bool,
    /// Make the kernel ignore echo requests, as a host behind a firewall.
    pub ignore_pings: bool,
    /// Drop `CAP_NET_RAW`, as a user that is not root.
    pub no_raw_sockets: bool,
    /// Show this text as `/etc/resolv.conf` (in a mount namespace of its own).
    pub resolv_conf: Option<&'static str>,
}

/// The new namespace with its loopback up, and nothing else changed.
pub const LOOPBACK: Sandbox = Sandbox {
    loopback_up: true,
    unprivileged_icmp: false,
    ignore_pings: false,
    no_raw_sockets: false,
    resolv_conf: None,
};

/// Runs `body` on a thread set up as asked, with a runtime of its own;
/// `None` (after saying why on stderr) where this process may not do that,
/// unless `KEEPWATCH_REQUIRE_SERVICES=1` makes that a failure.
pub fn in_sandbox<T, F, Fut>(sandbox: Sandbox, body: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let ran = std::thread::spawn(move || -> Result<T, String> {
        enter(sandbox)?;
        let runtime = keepwatch::agent::new_runtime().expect("a Tokio runtime");
        Ok(runtime.block_on(body()))
    })
    .join()
    .unwrap();
    match ran {
        Ok(result) => Some(result),
        Err(why) if std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "KEEPWATCH_REQUIRE_SERVICES=1 and this test needs a network namespace of its own ({why}); run the tests as root"
            )
        }
        Err(why) => {
            eprintln!(
                "\n*** SKIPPED: this test needs a network namespace of its own ({why}); run the tests as root to cover it ***\n"
            );
            None
        }
    }
}

fn enter(sandbox: Sandbox) -> Result<(), String> {
    // SAFETY: unshare only changes the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("unshare: {}", io::Error::last_os_error()));
    }
    let sysctl = |key: &str, value: &str| {
        std::fs::write(format!("/proc/sys/net/ipv4/{key}"), value)
            .map_err(|err| format!("setting {key}: {err}"))
    };
    if sandbox.unprivileged_icmp {
        sysctl("ping_group_range", "0 2147483647")?;
    }
    if sandbox.ignore_pings {
        sysctl("icmp_echo_ignore_all", "1")?;
    }
    if sandbox.loopback_up {
        loopback_up().map_err(|err| format!("bringing lo up: {err}"))?;
    }
    if let Some(text) = sandbox.resolv_conf {
        show_as_resolv_conf(text).map_err(|err| format!("replacing /etc/resolv.conf: {err}"))?;
    }
    if sandbox.no_raw_sockets {
        drop_cap_net_raw().map_err(|err| format!("dropping CAP_NET_RAW: {err}"))?;
    }
    Ok(())
}

fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket used for two interface ioctls on a zeroed,
    // correctly named `ifreq`, then closed.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *to = *from as libc::c_char;
        }
        let result = if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
            Err(io::Error::last_os_error())
        } else {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        libc::close(fd);
        result
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_NET_RAW: u32 = 13;

/// Capabilities belong to threads, so this thread alone loses it.
fn drop_cap_net_raw() -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset with a version-3 header and two data words,
    // as the kernel expects; pid 0 is the calling thread.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        data[0].effective &= !(1 << CAP_NET_RAW);
        data[0].permitted &= !(1 << CAP_NET_RAW);
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Bind-mounts a file with `text` over `/etc/resolv.conf`, in a mount
/// namespace of this thread's own whose mounts do not propagate back.
fn show_as_resolv_conf(text: &str) -> io::Result<()> {
    let file = std::env::temp_dir().join(format!(
        "keepwatch-resolv-{}-{:?}.conf",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&file, text)?;
    let source = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
    // SAFETY: unshare and mount with valid NUL-terminated paths; the mount
    // namespace is this thread's own, made private before the bind mount.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        let none = std::ptr::null();
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            source.as_ptr(),
            c"/etc/resolv.conf".as_ptr(),
            none,
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    // The mount keeps the file's contents.
    std::fs::remove_file(&file)
}
