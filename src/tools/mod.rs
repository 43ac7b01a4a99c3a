//! Command-line tools beside the server, each with its clap arguments: the `tips` client that
//! prints a draft's tips, the load tool, and the synthetic directory generator. They talk to the
//! server as any client would, over gRPC.

pub mod admin;
pub mod load;
pub mod synth;
pub mod tips;
