//! ReLU/MaxPool reordering through a zero Pad (ResNet's stem): the ReLU moves
//! after the pool and the outputs stay equal, in float and in fixed point.

use cryptflow_exec::executor::run_batched;
use cryptflow_exec::passes::simplify;
use cryptflow_exec::{FixedBackend, FloatBackend};
use cryptflow_ir::{Graph, Op, PoolParams, Tensor, Weights};

fn stem(pad_value: f32) -> Graph {
    let mut g = Graph::default();
    let x = g
        .push_shaped("x", Op::Input { index: 0 }, vec![], vec![2, 3, 9, 9])
        .expect("x");
    let r = g.push("r", Op::Relu, vec![x]).expect("relu");
    let p = g
        .push(
            "p",
            Op::Pad {
                pads: vec![(0, 0), (0, 0), (1, 1), (1, 1)],
                value: pad_value,
            },
            vec![r],
        )
        .expect("pad");
    let pool = PoolParams {
        kernel: [3, 3],
        strides: [2, 2],
        pads: [0, 0, 0, 0],
    };
    let m = g.push("m", Op::MaxPool(pool), vec![p]).expect("pool");
    g.outputs = vec![m];
    g
}

fn input() -> Tensor<f32> {
    let data: Vec<f32> = (0..2 * 3 * 81).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
    Tensor::new(vec![2, 3, 9, 9], data).expect("input")
}

fn kinds(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.kind()).collect()
}

#[test]
fn relu_moves_after_a_zero_pad_and_the_pool() {
    let g = stem(0.0);
    let (s, w) = simplify(&g, &Weights::default()).expect("passes");
    assert_eq!(kinds(&s), ["Input", "Pad", "MaxPool", "Relu"]);
    let x = input();
    let ya = run_batched(&mut FloatBackend::default(), &g, Some(&w), &x, &mut |_| {}).expect("float");
    let yb = run_batched(&mut FloatBackend::default(), &s, Some(&w), &x, &mut |_| {}).expect("float");
    assert_eq!(ya.data, yb.data);
    assert!(ya.data.iter().any(|&v| v > 0.0));
    let fa = run_batched(&mut FixedBackend::new(12), &g, Some(&w), &x, &mut |_| {}).expect("fixed");
    let fb = run_batched(&mut FixedBackend::new(12), &s, Some(&w), &x, &mut |_| {}).expect("fixed");
    assert_eq!(fa.data, fb.data);
}

#[test]
fn a_non_zero_pad_keeps_the_order() {
    let (s, _) = simplify(&stem(-1.0), &Weights::default()).expect("passes");
    assert_eq!(kinds(&s), ["Input", "Relu", "Pad", "MaxPool"]);
}
