//! `jumpnet`: the broker node (`serve`, the default), a local dev cluster (`dev`), and the client
//! commands (`publish`, `consume`, `topics`, `cluster status`, `bench`).
#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
