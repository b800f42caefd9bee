//! Prints tract's typed graph of a model: a debugging aid for lowering.
//! Usage: cargo run -p cryptflow-import --example tract_dump -- MODEL [d0,d1,...]
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let mut model = if path.ends_with(".pb") {
        let mut tf = tract_tensorflow::tensorflow();
        tf.op_register.insert(
            "FusedBatchNormV3",
            tract_tensorflow::ops::nn::fused_batch_norm::fused_batch_norm,
        );
        tf.model_for_path(path)?
    } else {
        tract_onnx::onnx().model_for_path(path)?
    };
    if let Some(s) = args.get(2) {
        let shape: Vec<usize> = s.split(',').map(|d| d.parse().unwrap_or(1)).collect();
        model.set_input_fact(0, f32::fact(&shape).into())?;
    }
    for n in model.nodes() {
        println!("inference {} {} {:?}", n.id, n.name, n.op.name());
    }
    let typed = model.into_typed()?;
    for id in typed.eval_order()? {
        let n = typed.node(id);
        let f = typed.outlet_fact(OutletId::new(id, 0))?;
        println!(
            "{id:3} {:40} {:?} -> {:?} konst={}",
            n.name,
            n.op,
            f.shape,
            f.konst.is_some()
        );
    }
    Ok(())
}
