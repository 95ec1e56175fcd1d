//! Generated protobuf messages and tonic clients/servers for the `cityserve.v1` package, plus the
//! encoded descriptor set that server reflection serves.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// The `cityserve.v1` package.
pub mod v1 {
    tonic::include_proto!("cityserve.v1");
}

/// Encoded `FileDescriptorSet` of every CityServe proto (and the well-known types they import).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cityserve_descriptor.bin"));
