"""The FaceNet conversion is right: the torch model and OpenCV's own run of graph_final.pb
agree on real face crops."""

import cv2
import numpy as np
import torch

from services.vision.align import box_crop
from services.vision.facenet_convert import state_dict_from_pb
from services.vision.inception_resnet_v1 import InceptionResnetV1
from services.vision.mtcnn import MTCNN
from services.vision.prepare import facenet_pb
from shared.images import decode


def test_torch_matches_opencv_on_real_face_crops(faces):
    detector = MTCNN(torch.device("cpu"), min_face=24)
    crops = []
    for name in ("obama.jpg", "biden.jpg", "astronaut.png", "t1.jpg"):
        image = decode(faces[name]).rgb
        detections = detector.detect([image])[0]
        crops += [box_crop(image, box) for box in detections.boxes[:2]]
    assert len(crops) >= 6
    batch = ((np.stack(crops).astype(np.float32) - 127.5) / 128.0).transpose(0, 3, 1, 2)

    model = InceptionResnetV1().eval()
    model.load_state_dict(state_dict_from_pb(facenet_pb()), strict=True)
    with torch.inference_mode():
        ours = model(torch.from_numpy(np.ascontiguousarray(batch))).numpy()

    net = cv2.dnn.readNetFromTensorflow(str(facenet_pb()))
    for k in range(len(crops)):  # OpenCV runs the frozen graph at batch 1
        net.setInput(batch[k : k + 1])
        reference = net.forward().ravel()
        assert np.abs(ours[k] - reference).max() < 1e-5
