"""Transcoding: an ABR ladder made by one supervised ffmpeg per stream, admitted by a budget."""
