"""The neural swap path with small stand-in models made here.

The stand-ins have exactly the input and output names, shapes and types of FaceFusion's
`inswapper_128` (target 1x3x128x128, source 1x512, output 1x3x128x128, the emap matrix as the
last initializer) and `arcface_w600k_r50` (input 1x3x112x112 -> 1x512), but tiny made-up
weights: they test the plumbing (alignment, embedding, emap, pre/post-processing, paste),
not face quality. `hyperswap_1a_256` gets a stand-in too: inputs source 1x512 (the
L2-normalised embedding) and target 1x3x256x256 (RGB in -1..1), outputs `output` 1x3x256x256
(RGB in -1..1) and `mask` 1x1x256x256, in the real file's order. The real models run on a GPU
host (docs/facefuse.md).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facefuse.cli import main
from facefuse.download import crc32_hex
from facefuse.models import get_model
from facefuse.pipeline import Settings, build_engine, prepare_source, swap_frame
from facefuse.swap import static_initializer
from facefuse.types import SourceIdentity, StageTimes


def _save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    model.producer_name = "facefuse-test-stand-in"
    model.doc_string = f"stand-in for {name}: same interface, made-up weights"
    onnx.checker.check_model(model)
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    (folder / f"{name}.hash").write_text(crc32_hex(path))
    return path


def arcface_stand_in(folder: Path) -> Path:
    """input (1,3,112,112) -> embedding (1,512): 8x8 average pooling, then a fixed projection."""
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(3 * 14 * 14, 512)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[8, 8],
                         strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "arcface_stand_in",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 512])],
        [numpy_helper.from_array(weights, "w")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
                 folder, "arcface_w600k_r50")


def inswapper_stand_in(folder: Path) -> Path:
    """target (1,3,128,128) + source (1,512) -> output (1,3,128,128): half the target plus a
    colour that the source latent decides; the emap is the last initializer."""
    rng = np.random.default_rng(3)
    to_colour = (rng.normal(size=(512, 3)) * 0.2).astype(np.float32)
    emap = rng.normal(size=(512, 512)).astype(np.float32) / np.sqrt(512)
    nodes = [
        helper.make_node("MatMul", ["source", "to_colour"], ["colour"]),
        helper.make_node("Sigmoid", ["colour"], ["colour01"]),
        helper.make_node("Reshape", ["colour01", "shape"], ["colour4d"]),
        helper.make_node("Mul", ["target", "half"], ["half_target"]),
        helper.make_node("Mul", ["colour4d", "half"], ["half_colour"]),
        helper.make_node("Add", ["half_target", "half_colour"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "inswapper_stand_in",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        [numpy_helper.from_array(to_colour, "to_colour"),
         numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"),
         numpy_helper.from_array(np.array(0.5, np.float32), "half"),
         numpy_helper.from_array(emap, "emap")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
                 folder, "inswapper_128")


HYPERSWAP_COLOUR = (np.random.default_rng(5).normal(size=(512, 3)) * 8).astype(np.float32)


def hyperswap_stand_in(folder: Path) -> Path:
    """source (1,512) + target (1,3,256,256) -> output (1,3,256,256), mask (1,1,256,256):
    half the target plus half a colour in -1..1 (tanh of the source times a fixed matrix);
    the mask is a sigmoid of the target's channel mean."""
    nodes = [
        helper.make_node("MatMul", ["source", "to_colour"], ["colour"]),
        helper.make_node("Tanh", ["colour"], ["colour11"]),
        helper.make_node("Reshape", ["colour11", "shape"], ["colour4d"]),
        helper.make_node("Mul", ["target", "half"], ["half_target"]),
        helper.make_node("Mul", ["colour4d", "half"], ["half_colour"]),
        helper.make_node("Add", ["half_target", "half_colour"], ["output"]),
        helper.make_node("ReduceMean", ["target"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["grey"], ["mask"]),
    ]
    graph = helper.make_graph(
        nodes, "hyperswap_stand_in",
        [helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
         helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 256, 256])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 256, 256]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 256, 256])],
        [numpy_helper.from_array(HYPERSWAP_COLOUR, "to_colour"),
         numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"),
         numpy_helper.from_array(np.array(0.5, np.float32), "half")])
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
                 folder, "hyperswap_1a_256")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    arcface_stand_in(folder)
    inswapper_stand_in(folder)
    return folder


@pytest.fixture(scope="module")
def neural_engine(models_dir):  # noqa: ANN001, ANN201
    return build_engine(Settings(face_swapper_model="inswapper_128", models_dir=models_dir,
                                 download=False))


def test_stand_ins_have_the_real_interfaces(neural_engine) -> None:
    swapper = neural_engine.swapper.session
    assert {(i.name, tuple(i.shape), i.type) for i in swapper.get_inputs()} == {
        ("target", (1, 3, 128, 128), "tensor(float)"), ("source", (1, 512), "tensor(float)")}
    assert [(o.name, tuple(o.shape)) for o in swapper.get_outputs()] == [
        ("output", (1, 3, 128, 128))]
    recognizer = neural_engine.recognizer.session
    assert [tuple(i.shape) for i in recognizer.get_inputs()] == [(1, 3, 112, 112)]
    assert [tuple(o.shape) for o in recognizer.get_outputs()] == [(1, 512)]


def test_inswapper_source_is_the_embedding_through_emap(neural_engine, models_dir) -> None:
    emap = static_initializer(models_dir / "inswapper_128.onnx")
    assert emap.shape == (512, 512)
    embedding = np.arange(512, dtype=np.float32) / 512
    expected = embedding @ emap / np.linalg.norm(embedding)
    assert np.allclose(neural_engine.swapper.source_vector(embedding), expected, atol=1e-5)


def test_neural_swap_changes_the_face_only(neural_engine, grace_path, astronaut_path,
                                           measure) -> None:
    source = prepare_source(neural_engine, [grace_path])
    assert source.embedding is not None and source.embedding.shape == (512,)
    target = cv2.imread(str(astronaut_path))
    out, count = swap_frame(neural_engine, source, target)
    assert count == 1 and out.shape == target.shape
    changed = np.abs(out.astype(int) - target.astype(int)).max(axis=2) > 3
    face = neural_engine.detector(target)[0]
    inside = measure.face_region(target.shape, face.box, grow=0.6)
    assert changed[inside].sum() > 1000
    assert changed[~inside].sum() == 0
    other = prepare_source(neural_engine, [astronaut_path])
    out_other, _ = swap_frame(neural_engine, other, target)
    assert np.abs(out_other.astype(int) - out.astype(int)).max() > 5, "identity had no effect"


def test_cli_runs_the_neural_path_offline(tmp_path, models_dir, grace_path, astronaut_path,
                                          capsys) -> None:
    output = tmp_path / "out.png"
    code = main(["headless-run", "-s", str(grace_path), "-t", str(astronaut_path), "-o",
                 str(output), "--face-swapper-model", "inswapper_128", "--models-dir",
                 str(models_dir), "--skip-download"])
    assert code == 0, capsys.readouterr().err


def test_missing_model_offline_is_a_model_error(tmp_path, grace_path, astronaut_path,
                                                capsys) -> None:
    code = main(["headless-run", "-s", str(grace_path), "-t", str(astronaut_path), "-o",
                 str(tmp_path / "out.png"), "--face-swapper-model", "hyperswap_1a_256",
                 "--models-dir", str(tmp_path), "--skip-download"])
    err = capsys.readouterr().err
    assert code == 6 and "hyperswap_1a_256.onnx is missing" in err
    assert get_model("hyperswap_1a_256").size == 256


@pytest.fixture(scope="module")
def hyperswap_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hyperswap_models")
    arcface_stand_in(folder)
    hyperswap_stand_in(folder)
    return folder


@pytest.fixture(scope="module")
def hyperswap_engine(hyperswap_dir):  # noqa: ANN001, ANN201
    return build_engine(Settings(face_swapper_model="hyperswap_1a_256",
                                 models_dir=hyperswap_dir, download=False))


def test_hyperswap_stand_in_has_the_real_interface(hyperswap_engine) -> None:
    session = hyperswap_engine.swapper.session
    assert [(i.name, tuple(i.shape), i.type) for i in session.get_inputs()] == [
        ("source", (1, 512), "tensor(float)"), ("target", (1, 3, 256, 256), "tensor(float)")]
    assert [(o.name, tuple(o.shape), o.type) for o in session.get_outputs()] == [
        ("output", (1, 3, 256, 256), "tensor(float)"),
        ("mask", (1, 1, 256, 256), "tensor(float)")]
    assert hyperswap_engine.swapper.size == 256
    assert hyperswap_engine.swapper.template == "arcface_128"


def test_hyperswap_feeds_unit_embedding_and_pixels_in_minus_one_to_one(hyperswap_engine
                                                                        ) -> None:
    embedding = np.linspace(-1, 3, 512, dtype=np.float32)
    unit = embedding / np.linalg.norm(embedding)
    swapper = hyperswap_engine.swapper
    assert np.allclose(swapper.source_vector(embedding), unit[None], atol=1e-6)
    assert np.allclose(swapper.source_vector(embedding * 7), unit[None], atol=1e-6)
    # a BGR crop whose RGB is (51, 128, 204): -0.6, 0.0, 0.6 in the model's range
    crop = np.empty((256, 256, 3), np.uint8)
    crop[:] = (204, 128, 51)
    source = SourceIdentity(crop=crop, landmarks=np.zeros((5, 2), np.float32), frame=crop,
                            embedding=embedding)
    swapped, mask = swapper.swap_crop(crop, source, StageTimes())
    target = np.array([51, 128, 204]) / 127.5 - 1.0
    output = 0.5 * target + 0.5 * np.tanh(unit @ HYPERSWAP_COLOUR)
    expected_rgb = (output * 0.5 + 0.5).clip(0, 1) * 255
    assert swapped.shape == (256, 256, 3) and mask.shape == (256, 256)
    assert np.abs(swapped[128, 128] - expected_rgb[::-1]).max() < 1.5, swapped[128, 128]


def test_cli_runs_hyperswap_and_changes_the_face_only(tmp_path, hyperswap_dir, engine,
                                                      grace_path, astronaut_path, measure,
                                                      capsys) -> None:
    outputs = {}
    for name, source in (("grace", grace_path), ("astronaut", astronaut_path)):
        outputs[name] = tmp_path / f"{name}.png"
        code = main(["headless-run", "-s", str(source), "-t", str(astronaut_path), "-o",
                     str(outputs[name]), "--face-swapper-model", "hyperswap_1a_256",
                     "--models-dir", str(hyperswap_dir), "--skip-download"])
        assert code == 0, capsys.readouterr().err
    target = cv2.imread(str(astronaut_path))
    out = cv2.imread(str(outputs["grace"]))
    assert out.shape == target.shape
    changed = np.abs(out.astype(int) - target.astype(int)).max(axis=2) > 3
    inside = measure.face_region(target.shape, engine.detector(target)[0].box, grow=0.6)
    assert changed[inside].sum() > 1000
    assert changed[~inside].sum() == 0
    out_other = cv2.imread(str(outputs["astronaut"]))
    assert np.abs(out_other.astype(int) - out.astype(int)).max() > 5, "identity had no effect"
