//! A seccomp filter for commands on a closed network: no UDP sockets (DNS and other datagram exfiltration; names resolve through the proxy) and no io_uring (it creates sockets around the filter).

/// `SECCOMP_RET_*` and BPF opcodes (linux/seccomp.h, linux/filter.h).
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const LD_ABS_W: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// x32 system calls carry this bit (x86_64); none elsewhere.
#[cfg(target_arch = "x86_64")]
const X32_BIT: u32 = 0x4000_0000;
#[cfg(not(target_arch = "x86_64"))]
const X32_BIT: u32 = u32::MAX;
const SYS_IO_URING_SETUP: u32 = 425;

/// Where a jump goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    Skip(u8),
    Allow,
    Deny,
}

enum Op {
    Load(u32),
    And(u32),
    Jeq(u32, To, To),
    Jge(u32, To, To),
    Ret(u32),
}

/// The filter program, built before fork (the child only installs it).
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

impl Filter {
    /// Denies `socket(AF_INET|AF_INET6, SOCK_DGRAM, …)` and io_uring with
    /// EACCES; a foreign system-call ABI kills the process.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub fn no_udp() -> Option<Filter> {
        use To::{Allow, Deny, Next, Skip};
        let ops = [
            Op::Load(4),
            Op::Jeq(AUDIT_ARCH, Skip(1), Next),
            Op::Ret(RET_KILL_PROCESS),
            Op::Load(0),
            Op::Jge(X32_BIT, Deny, Next),
            Op::Jeq(SYS_IO_URING_SETUP, Deny, Next),
            Op::Jeq(libc::SYS_socket as u32, Next, Allow),
            Op::Load(16),
            Op::Jeq(libc::AF_INET as u32, Skip(1), Next),
            Op::Jeq(libc::AF_INET6 as u32, Next, Allow),
            Op::Load(24),
            Op::And(0xf),
            Op::Jeq(libc::SOCK_DGRAM as u32, Deny, Allow),
            Op::Ret(RET_ALLOW),
            Op::Ret(RET_ERRNO | libc::EACCES as u32),
        ];
        let (allow, deny) = (ops.len() - 2, ops.len() - 1);
        let offset = |at: usize, to: To| -> Option<u8> {
            let target = match to {
                Next => at + 1,
                Skip(n) => at + 1 + n as usize,
                Allow => allow,
                Deny => deny,
            };
            u8::try_from(target.checked_sub(at + 1)?).ok()
        };
        let mut program = Vec::with_capacity(ops.len());
        for (at, op) in ops.iter().enumerate() {
            let (code, jt, jf, k) = match *op {
                Op::Load(k) => (LD_ABS_W, 0, 0, k),
                Op::And(k) => (AND_K, 0, 0, k),
                Op::Jeq(k, t, f) => (JEQ_K, offset(at, t)?, offset(at, f)?, k),
                Op::Jge(k, t, f) => (JGE_K, offset(at, t)?, offset(at, f)?, k),
                Op::Ret(k) => (RET_K, 0, 0, k),
            };
            program.push(libc::sock_filter { code, jt, jf, k });
        }
        Some(Filter { program })
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub fn no_udp() -> Option<Filter> {
        None
    }

    /// Installs the filter on the calling thread (the child, before exec).
    pub fn install(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prctl with plain integers; `prog` points at a program that
        // outlives the call.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Whether this kernel takes seccomp filters.
pub fn available() -> bool {
    // SAFETY: a query with no pointers.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    mode >= 0 && Filter::no_udp().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_builds() {
        let f = Filter::no_udp().unwrap();
        assert_eq!(f.program.len(), 15);
        assert!(available());
    }
}
