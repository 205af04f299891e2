"""modalprompt.pointcloud"""
