//! `sqlx::migrate!` embeds the migrations when this crate compiles, and cargo cannot tell that a
//! new file in the folder changes the crate: without this, a build after adding a migration
//! keeps the old list, and databases it creates lack the new tables and columns.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
