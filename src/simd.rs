//! Which vector instructions the hot loops use on this CPU, decided once.
//!
//! AVX-512 only on CPUs that also have VBMI (Ice Lake and later, Zen 4): the Skylake and
//! Cascade Lake Xeons, common in CI fleets, lower the core's clock for 512-bit instructions,
//! which would slow the rest of the run more than the wider compares save.

/// The widest vector instructions worth using here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Other CPUs only ever get `Base`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum Level {
    Avx512,
    Avx2,
    /// SSE2 on x86-64 (every such CPU has it), plain code elsewhere.
    Base,
}

/// The level for this CPU. std caches what the CPU reported, so this is a few loads.
#[inline]
pub(crate) fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Base
}

/// Every level this CPU can run, narrowest first: tests run each one's code against the others.
#[cfg(test)]
pub(crate) fn levels_here() -> Vec<Level> {
    let mut levels = vec![Level::Base];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            levels.push(Level::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            levels.push(Level::Avx512);
        }
    }
    levels
}
