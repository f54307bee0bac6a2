//! Print the GraphQL schema in SDL: `cargo run -p sluice-graphql --example sdl`.

fn main() {
    print!("{}", sluice_graphql::schema::sdl());
}
