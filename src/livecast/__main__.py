from livecast.cli import main

main(prog_name="livecast")
