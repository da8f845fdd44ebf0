fn main() {
    let args: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&args[1]).unwrap();
    let mut opts = archc::CheckOptions::default();
    if args.len() > 3 {
        opts.resolve.scale = Some(args[3].clone());
    }
    let c = archc::check_source(&src, &opts);
    let g = c.graph.expect("graph");
    let dot = archc::draw::graph_to_dot(&g);
    std::fs::write(format!("{}.dot", args[2]), &dot).unwrap();
    let t = std::time::Instant::now();
    let svg = archc::draw::dot_to_svg(&dot).unwrap();
    eprintln!("dot_to_svg: {:?}", t.elapsed());
    std::fs::write(format!("{}.svg", args[2]), &svg).unwrap();
}
#[allow(dead_code)]
fn unused() {}
