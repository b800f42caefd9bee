//! Structured fuzzing of untrusted program files: a valid program is mutated
//! (shapes, input ids, op parameters), resealed so the hash check passes, and
//! then parsed, validated and - when accepted - executed on the fixed
//! backend with zero weights and inputs. Nothing may panic.

use cryptflow_exec::{execute, FixedBackend};
use cryptflow_ir::{ConvParams, Graph, Op, PoolParams, Program, Tensor, Weights};
use proptest::prelude::*;

fn base() -> Program {
    let mut g = Graph::default();
    let x = g
        .push_shaped("x", Op::Input { index: 0 }, vec![], vec![1, 2, 6, 5])
        .expect("x");
    let k = g
        .push_shaped("k", Op::Weight { name: "k".into() }, vec![], vec![4, 2, 3, 3])
        .expect("k");
    let b = g
        .push_shaped("b", Op::Weight { name: "b".into() }, vec![], vec![4])
        .expect("b");
    let p = ConvParams {
        strides: [1, 1],
        dilations: [1, 1],
        pads: [1, 1, 1, 1],
        groups: 1,
    };
    let c = g.push("c", Op::Conv(p), vec![x, k, b]).expect("conv");
    let r = g.push("r", Op::Relu, vec![c]).expect("relu");
    let pool = PoolParams {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0, 0, 0, 0],
    };
    let m = g.push("m", Op::MaxPool(pool), vec![r]).expect("pool");
    let f = g.push_shaped("f", Op::Reshape, vec![m], vec![1, 24]).expect("reshape");
    let t = g
        .push("t", Op::Transpose { perm: vec![1, 0] }, vec![f])
        .expect("transpose");
    let a = g.push("a", Op::Add, vec![t, t]).expect("add");
    g.outputs = vec![a];
    Program::new(g, 8)
}

#[derive(Debug, Clone)]
enum Mutation {
    Dim { node: usize, axis: usize, value: usize },
    Input { node: usize, slot: usize, value: usize },
    Groups(usize),
    Stride(usize),
    Pad(usize),
    Kernel(usize),
    Perm(Vec<usize>),
    Output(usize),
    DropInput(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let big = prop_oneof![0usize..10, Just(usize::MAX), Just(1 << 40), 0usize..100000];
    prop_oneof![
        (0usize..12, 0usize..5, big.clone()).prop_map(|(node, axis, value)| Mutation::Dim { node, axis, value }),
        (0usize..12, 0usize..3, 0usize..14).prop_map(|(node, slot, value)| Mutation::Input { node, slot, value }),
        big.clone().prop_map(Mutation::Groups),
        big.clone().prop_map(Mutation::Stride),
        big.clone().prop_map(Mutation::Pad),
        big.clone().prop_map(Mutation::Kernel),
        proptest::collection::vec(0usize..4, 0..4).prop_map(Mutation::Perm),
        (0usize..14).prop_map(Mutation::Output),
        (0usize..12).prop_map(Mutation::DropInput),
    ]
}

fn apply(p: &mut Program, m: &Mutation) {
    let nodes = &mut p.graph.nodes;
    let n = nodes.len();
    match m {
        Mutation::Dim { node, axis, value } => {
            if let Some(s) = nodes.get_mut(node % n).map(|x| &mut x.shape) {
                if s.is_empty() {
                    s.push(*value);
                } else {
                    let l = s.len();
                    s[axis % l] = *value;
                }
            }
        }
        Mutation::Input { node, slot, value } => {
            let nd = &mut nodes[node % n];
            if !nd.inputs.is_empty() {
                let l = nd.inputs.len();
                nd.inputs[slot % l] = *value;
            }
        }
        Mutation::DropInput(node) => {
            nodes[node % n].inputs.pop();
        }
        Mutation::Output(o) => p.graph.outputs = vec![*o],
        _ => {
            for nd in nodes.iter_mut() {
                match (&mut nd.op, m) {
                    (Op::Conv(c), Mutation::Groups(v)) => c.groups = *v,
                    (Op::Conv(c), Mutation::Stride(v)) => c.strides[0] = *v,
                    (Op::Conv(c), Mutation::Pad(v)) => c.pads[2] = *v,
                    (Op::MaxPool(q), Mutation::Kernel(v)) => q.kernel[1] = *v,
                    (Op::MaxPool(q), Mutation::Pad(v)) => q.pads[0] = *v,
                    (Op::Transpose { perm }, Mutation::Perm(v)) => *perm = v.clone(),
                    _ => {}
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn mutated_programs_never_panic(ms in proptest::collection::vec(mutation(), 1..4)) {
        let mut p = base();
        for m in &ms {
            apply(&mut p, m);
        }
        p.seal();
        let Ok(p) = Program::from_json(&p.to_json()) else { return Ok(()) };
        let mut w = Weights::default();
        for (name, shape) in p.weight_specs() {
            w.tensors.insert(name.to_string(), Tensor::filled(shape.to_vec(), 0.0f32));
        }
        let shapes = p.input_shapes();
        let x = Tensor::filled(shapes[0].clone(), 0.5f32);
        let _ = execute(&mut FixedBackend::new(p.scale), &p.graph, &[Some(&x)], Some(&w), &mut |_| {});
    }
}
