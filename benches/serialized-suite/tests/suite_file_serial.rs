//! The serialized suite with `serial_test`'s `#[file_serial(suite)]`.

mod suite;

suite!(#[serial_test::file_serial(suite)]);
