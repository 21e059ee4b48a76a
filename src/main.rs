fn main() {
    std::process::exit(vzrun::app::main(std::env::args_os()));
}
