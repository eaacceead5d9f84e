"""The identities the stand-ins declare (config parameter `model_identity`).

Goldens and benchmark records are filed under a model's identity; these live apart from
the stand-ins' code so that they can be read without OpenCV or torch.
"""

#: the CPU stand-in: OpenCV's HOG people detector in PeopleNet's tensor contract
CPU_STANDIN = "peoplenet-standin-hog"
#: the GPU stand-in: a PeopleNet-sized ResNet34 DetectNet_v2 with random weights
GPU_STANDIN = "peoplenet-gpu-standin-resnet34-random"
