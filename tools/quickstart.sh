#!/bin/sh
# quickstart.sh — from a fresh clone: install what is missing, build, fit the embedded image
# (data/kodim23_crop.png, 256x256) for 30 seconds, render it at 4x, and evaluate it.
set -e
cd "$(dirname "$0")/.."
sh tools/setup.sh
make -s release
mkdir -p out
./build/release/gnf fit data/kodim23_crop.png -o out/kodim23.gnf --params 140000 --seconds 30
./build/release/gnf info out/kodim23.gnf
./build/release/gnf render out/kodim23.gnf -o out/kodim23_4x.png --width 1024
./build/release/gnf eval out/kodim23.gnf data/kodim23_crop.png
