//! The serialized suite of the `serialized_suite` benchmark: 200 short tests
//! that all want one lock, generated for each way of taking it.

use std::time::Duration;

/// One test's work while it holds the lock: short, as a test touching a
/// shared database or port is, and the same for every variant.
pub(crate) fn work() {
    std::thread::sleep(Duration::from_millis(2));
}

/// 200 tests (`m0::t00` .. `m9::t19`), each with the given attributes, each
/// ignored so that only the benchmark runs them (`--run-ignored only`).
#[macro_export]
macro_rules! suite {
    ($(#[$attr:meta])*) => {
        $crate::suite!(@modules [$(#[$attr])*]
            [m0 m1 m2 m3 m4 m5 m6 m7 m8 m9]
            [t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19]);
    };
    (@modules $attrs:tt [$($module:ident)*] $tests:tt) => {
        $(
            mod $module {
                $crate::suite!(@tests $attrs $tests);
            }
        )*
    };
    (@tests $attrs:tt [$($test:ident)*]) => {
        $(
            $crate::suite!(@test $attrs $test);
        )*
    };
    (@test [$(#[$attr:meta])*] $test:ident) => {
        #[test]
        #[ignore = "a benchmark's suite: benches/benches/serialized_suite.rs runs it"]
        $(#[$attr])*
        fn $test() {
            super::suite::work();
        }
    };
}
