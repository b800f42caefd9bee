//! Keras CNNs of several shapes, exported by tf2onnx: the fixed-point
//! backend's top-1 equals Keras's on their test inputs.

mod common;
use common::*;
use cryptflow_exec::calibrate::choose_scale;

#[test]
fn keras_nets_keep_top1_in_fixed_point() {
    let manifest = std::fs::read_to_string(fixture("keras/MANIFEST.txt")).expect("manifest");
    let names: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("kn_"))
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    for n in names {
        let x = load(&format!("keras/{n}.x.npy"));
        let keras = load(&format!("keras/{n}.keras_out.npy"));
        let (g, w) = import_for(&format!("keras/{n}.onnx"), &x);
        let yf = float(&g, &w, &x);
        assert!(max_abs_diff(&yf, &keras) < 1e-4, "{n}: float vs keras");
        let calib = cryptflow_exec::calibrate::generated_inputs(&x.shape, 8);
        let (scale, _) = choose_scale(&g, &w, &calib, 8..=18).expect("scale");
        let yx = fixed(&g, &w, &x, scale);
        assert_eq!(argmax(&yx), argmax(&keras), "{n}: top-1 differs at scale {scale}");
    }
}
