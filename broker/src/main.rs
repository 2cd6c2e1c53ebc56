//! `jumpnet`: the broker node (`serve`, the default), a local dev cluster (`dev`), and the client
//! commands (`publish`, `consume`, `topics`, `cluster status`, `bench`).
#![deny(unsafe_code)]

mod cli;

/// mimalloc instead of the platform allocator: the container image is a static musl build, and
/// musl's malloc halved batched publish throughput (README "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (`mi_option_t`); the Rust bindings lack the name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Give freed memory back to the OS at once. mimalloc's default waits a second and only acts on a
/// later allocation, so a node going idle after a burst of publishes kept twice its working set.
/// Measured (bench, 1M+ msgs/s batched): peak RSS ~26 MB instead of ~70 MB, ~20% less throughput.
/// `MIMALLOC_PURGE_DELAY=<ms>` in the environment (mimalloc reads it itself) overrides this.
#[allow(unsafe_code)]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one integer option; mimalloc reads options atomically, any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

fn main() {
    tune_allocator();
    std::process::exit(cli::main());
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_tuned() {
        // SAFETY: reads an integer option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        // 1000 ms is mimalloc v3's purge_delay default and no other option's: the index is right.
        assert_eq!(get(), 1000, "option 15 is not purge_delay in this mimalloc");
        super::tune_allocator();
        assert_eq!(get(), 0);
    }
}
